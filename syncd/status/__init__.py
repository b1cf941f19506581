"""`syncd status`: what every audience looks like now, read from the state without writing
it: `reading` opens the state read-only, `gather` collects a `Status`, `render` draws it as
text or JSON, `command` is the CLI."""
