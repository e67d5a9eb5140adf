"""Front doors: a module per `defeat-ros` subcommand, argument parsing and a call below."""
