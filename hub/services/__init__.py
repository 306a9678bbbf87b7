"""Use cases: one function per action, given a unit of work bound to one tenant."""
