from imgtrans.cli import main

main()
