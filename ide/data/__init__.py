"""The data layer: the file formats of a dataset, its training parameters, the merge driver
of labels.csv and predictions brought from a file. Pure: text in, values out; no git, no workspace."""
