from promptyard.fastpath import main

main()
