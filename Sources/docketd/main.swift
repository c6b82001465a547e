DocketdCommand.main()
