"""w2v-study: hyperparameter studies and benchmarks of word2vec (SGNS).

A PyTorch trainer and a gensim baseline are run side by side over grids of
hyperparameters; callbacks record per-epoch losses and gradient norms;
evaluation feeds pandas tables, figures and a generated report.
"""

__version__ = "0.1.0"
