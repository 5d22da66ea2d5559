"""The command line `ide`: `main` runs it; each command is declared once in a module of
`commands/` by topic, over the API."""
