"""The learning layer: out-of-fold ranking (pure numpy), K-fold training, the networks and
backbones, model files, embeddings, and the results stored per version."""
