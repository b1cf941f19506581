"""`syncd forget`: people asked to be forgotten leave every audience of every network that
holds them, now, in as few requests as the networks allow, with a record holding hashes only.

The stages, one module each: `people` reads the input (one person a line), `digests` turns
it into what each network's members hold, `removal` takes those members out of one audience
through the ordinary push (journal, pacing, retries, Google's request statuses), `resume`
applies every unfinished request under the audiences' claims (the command and the daemon
alike), `report` prints a record, and `command` is the CLI.
"""
