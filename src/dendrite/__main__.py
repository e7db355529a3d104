from dendrite.cli.main import run

run()
