"""The data layer: the file formats of a dataset, its training parameters, the merge driver
of labels.csv and predictions brought from a file. No git and no workspace: text (or a
file given by path) in, checked values out."""
