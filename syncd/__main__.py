"""`python -m syncd` is the `syncd` command."""

from syncd.launch import main

main()
