"""Command-line options generated from a typed config's documented fields."""

from defeat_ros.typed_config import options


def add_options(parser, config_class, skip=()):
    """
    Add an argument per documented field of ``config_class`` (see ``typed_config.option``).

    ``--name-with-dashes`` (or the field's own ``flag``; a flag without dashes is positional),
    typed like the default, with the field's choices and doc as help. Booleans are switches:
    ``--x`` for a False default, ``--no-x`` (or the ``flag`` given) for a True default. Lists are
    comma-separated strings that the config parses, or given by repeating the flag (``repeat``;
    a positional one takes one or more values).

    :param skip: names of fields not to offer.
    """
    for item in options(config_class):
        if item.name in skip:
            continue
        dashed = item.name.replace('_', '-')
        flag = item.flag or '--' + dashed
        if not flag.startswith('-'):
            parser.add_argument(item.name, metavar=flag, help=item.doc,
                                **({'nargs': '+'} if item.repeat else
                                   {'type': type(item.default)}))
        elif isinstance(item.default, bool):
            negative = item.default
            parser.add_argument(item.flag or ('--no-' if negative else '--') + dashed,
                                dest=item.name, default=item.default,
                                help=switched_off(item.doc) if negative else item.doc,
                                action='store_false' if negative else 'store_true')
        elif item.repeat:
            parser.add_argument(flag, dest=item.name, action='append', default=None,
                                metavar=metavar(flag), required=item.required,
                                help=item.doc + ' (repeatable)')
        elif isinstance(item.default, list):
            parser.add_argument(flag, dest=item.name, help=item.doc, required=item.required,
                                default=','.join(map(str, item.default)), metavar=metavar(flag))
        else:
            parser.add_argument(flag, dest=item.name, type=type(item.default), help=item.doc,
                                default=item.default, choices=item.choices or None,
                                required=item.required,
                                metavar=None if item.choices else metavar(flag))


def metavar(flag):
    """Return the placeholder of an option's value in --help: ``--max-gap`` -> ``MAX_GAP``."""
    return flag.lstrip('-').replace('-', '_').upper()


def config_from_args(config_class, args):
    """Build ``config_class`` from the parsed arguments that are its fields (None: default)."""
    names = {item.name for item in options(config_class)}
    return config_class(**{name: value for name, value in vars(args).items()
                           if name in names and value is not None})


def switched_off(doc):
    """Return the help of a switch that turns a default-on option off."""
    return f'switch off: {doc[:1].lower()}{doc[1:]}'
