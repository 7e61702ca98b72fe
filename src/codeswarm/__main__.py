from codeswarm.cli import main

main()
