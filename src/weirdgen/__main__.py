from weirdgen.cli import main

main()
