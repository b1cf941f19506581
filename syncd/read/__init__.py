"""The read stage: a segment from the warehouse, through each network's identity, into the
pass's spill (`scan`), once per pass for every audience that needs it (`per_pass`). What it
leaves (`segments`) is what the plan diffs against the state; nothing here holds a whole
segment in memory."""
