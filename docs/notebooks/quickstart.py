# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # kgif quickstart: train, explain, look
#
# Which training edges made a ConvE model predict a link? This notebook trains a small
# ConvE on the bundled UMLS graph, predicts new tails, explains a few test triples with TracIn
# (Pruthi et al., NeurIPS 2020), summarises them by relation, draws one explanation and collects
# them in a DataFrame. It runs in about a minute on two CPU cores; CI executes it
# (`tests/test_notebook.py`).

# %%
import tempfile

import kgif
from kgif.explanation.paths import rank_paths
from kgif.influence.candidates import Adjacency

kg = kgif.load_dataset("umls")
print(kg.summary())

# %% [markdown]
# ## Train a small model
# A few epochs of 1-N training; a checkpoint every epoch, because TracIn sums over the
# checkpoints of the run (each weighted by its learning rate).

# %%
out = tempfile.mkdtemp(prefix="kgif-quickstart-")
config = kgif.ConvEConfig(embedding_dim=32)
result = kgif.train(kg, config, kgif.TrainingConfig(epochs=3, checkpoint_every=1, eval_every=0),
                    output_dir=out, show_progress=False)
print("training loss per epoch:", [round(x, 4) for x in result.loss_history])
checkpoints = kgif.load_checkpoints(f"{out}/checkpoints")
result

# %% [markdown]
# ## Predict
# The top-scored tails of `(head, relation, ?)`, known edges filtered out: rows a DataFrame
# takes (`kgif.predict`, see docs/predict.md).

# %%
import pandas as pd  # noqa: E402 - a notebook cell

predictions = kgif.predict(checkpoints[-1], kg, head="antibiotic", relation="treats", k=5)
pd.DataFrame(predictions)[["rank", "entity_label", "logit", "probability", "known"]]

# %% [markdown]
# ## Explain three test triples
# Candidates: the training edges that lie on a head-tail walk of at most 2 edges
# (`kgif.candidate_edges` with `max_path_length=2`), which keeps the run fast; pass no
# candidates to score every training edge. Proponents are the edges with positive TracIn
# influence (they pushed the prediction up), opponents those with negative influence (they
# pushed it down); when fewer than k edges of a sign exist, fewer are listed, possibly none.

# %%
tracin = kgif.TracIn(checkpoints, kg.training, show_progress=False)
adj = Adjacency.from_triples(kg.training, kg.num_entities)
test = kg.testing[:3]
candidates = [kgif.candidate_edges(adj, h, t, 1, max_path_length=2) for h, _, t in test.tolist()]
explanations = kgif.explain(tracin, test, k=10, candidates=candidates, kg=kg)
explanations[0]  # shown as a table with names, kinds and scores

# %% [markdown]
# ## How the proponents split by relation

# %%
for ex in explanations:
    summary = kgif.relation_summary(ex, kg)
    print(kg.relation_label(ex.triple[1]), "->",
          kgif.explanation.explanation.format_summary(summary["by_relation"]))

# %% [markdown]
# ## Draw one explanation
# Blue edges pushed the prediction up, red ones down (width: |influence|); the dashed black
# edge is the predicted test triple; gold halos mark the best head-tail paths.

# %%
paths = rank_paths(tracin, test[0], adj, max_length=2, top=3)
fig = kgif.plot_explanation(explanations[0], kg, k=10, paths=paths, figsize=(11, 8))
fig.set_dpi(80)
fig  # a figure returned from a cell shows inline, no pyplot needed

# %% [markdown]
# ## All explanations as a DataFrame

# %%
frame = kgif.to_dataframe(explanations, kg)
frame[["TestHead_name", "TestRel_name", "TestTail_name", "TrainHead_name",
       "TrainRel_name", "TrainTail_name", "TracInScore", "Kind", "Rank"]].head(12)
