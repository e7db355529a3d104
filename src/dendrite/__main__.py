from dendrite.cli.entry import run

run()
