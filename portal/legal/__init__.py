"""The Norwegian rules as pure functions (../shared/LEGAL.md): withdrawal."""
