"""What a run records about where it ran: environment, git, console, source, notebook snapshot."""
