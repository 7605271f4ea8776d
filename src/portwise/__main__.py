from portwise.cli import main

main()
