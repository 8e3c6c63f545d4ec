from promptyard.cli.entry import main

main()
