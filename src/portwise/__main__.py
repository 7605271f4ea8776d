"""`python -m portwise` and the `portwise` script.

`portwise --version` answers before the command line (typer) is even imported: scripts call it
to probe for the tool, and start-up is most of a warm rescan's time.
"""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from portwise import __version__

        sys.stdout.write(f"portwise {__version__}\n")
        return
    from portwise.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
