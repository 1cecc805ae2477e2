from rayobs.cli import main

main()
