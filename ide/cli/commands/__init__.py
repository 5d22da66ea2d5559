"""The commands of `ide`, each declared once in the module of its topic, in the order that
`ide --help` lists them.
"""

from ide.cli.commands import app, datasets, help, history, review, staging, team, training

COMMANDS = (
    datasets.INIT, datasets.IMPORT, datasets.ADD, review.SUGGEST, staging.ACCEPT,
    staging.REMOVE, datasets.CLASSES, review.DUPLICATES, review.OUTLIERS, review.ISSUES,
    review.SIMILAR, staging.RELABEL, staging.CHECK, staging.UNSTAGE, staging.STATUS,
    staging.COMMIT, team.RESOLVE, team.PUSH, team.PULL, team.PUBLISH, history.LOG,
    history.DIFF, history.HISTORY, history.CHECKOUT, history.REVERT, datasets.EXPORT,
    datasets.PREDICTIONS, training.RETRAIN, review.SUSPECTS,
    training.WATCH, training.STAGE, app.SERVE, app.DEMO, help.COMPLETION, help.HELP)
