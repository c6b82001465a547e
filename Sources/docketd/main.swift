DocketdCommand.main(DocketdCommand.arguments)
