"""The encoders' schemas, one dataclass per `type` (a comment for every key), and ENCODER_CONFIGS, which
an input's `encoder` picks from by its `type`. kerasclf/encoder_validation.py holds one value check per
type; kerasclf/models/registry.py one module per type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class CNNConfig:
    type: Literal["cnn"] = "cnn"  # picks this encoder
    embedding_dim: int = 128  # size of each word's vector
    embedding_dropout: float = 0.0  # while training, drop this share of the embedding channels
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])  # one convolution per width, in words
    filters: int = 128  # feature maps per kernel width
    pooling: Literal["max", "max_mean"] = "max"  # over the text, per feature map: max, or max and mean
    dropout: float = 0.5  # on the pooled features
    # convolve one-hot word vectors (Johnson & Zhang 2015's seq-CNN) instead of dense embeddings:
    # each kernel of width k has a vocabulary x (k * filters) table; embedding_dim is then unused and
    # embedding_dropout drops whole words (they read as padding) instead of embedding channels
    one_hot: bool = False
    # with one_hot: > 0 gives each window of 2 (3) words a row of its own for its word pair (triple) too,
    # hashed into this many rows per width, added to the window's sum before the ReLU
    ngram_buckets: int = 0
    # with one_hot, instead of ngram_buckets: > 0 gives a row to each of the this many most frequent word
    # pairs (and as many triples) of the training texts, counted when the model is built; others get none
    ngram_vocab: int = 0


@dataclass
class RNNConfig:
    type: Literal["rnn"] = "rnn"  # picks this encoder
    cell: Literal["rnn", "lstm", "gru"] = "lstm"  # SimpleRNN, LSTM or GRU
    embedding_dim: int = 128  # size of each word's vector
    embedding_dropout: float = 0.0  # while training, drop this share of the embedding channels
    units: int = 64  # state size of each cell (per direction)
    layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # also read the text backwards, concatenating both directions
    pooling: Literal["last", "mean", "max"] = "max"  # the final state, or mean or max over the last layer's tokens
    dropout: float = 0.3  # on the pooled features


@dataclass
class TransformerConfig:
    """Full self-attention (Vaswani et al. 2017): every token attends to every token."""

    type: Literal["transformer"] = "transformer"  # picks this encoder
    embedding_dim: int = 128  # model width: size of each token's vector
    embedding_dropout: float = 0.1  # on the token vectors (positions and n-grams added)
    word_dropout: float = 0.0  # while training, replace this share of the words with [UNK]
    # > 0: add a vector for each pair of neighbouring words (ngram_order 3: and each triple), hashed into
    # one table of this many rows (fastText's -wordNgrams and -bucket)
    ngram_buckets: int = 0
    ngram_order: Literal[2, 3] = 2  # 2: word pairs; 3: pairs and triples (needs ngram_buckets > 0)
    positions: Literal["learned", "sinusoidal"] = "learned"  # how token positions are encoded
    layers: int = 2  # 0: no attention blocks, the embeddings alone pooled (an ablation, as fastText)
    heads: int = 4  # attention heads per block (they divide embedding_dim)
    ff_dim: int = 256  # hidden size of each block's feed-forward layer
    dropout: float = 0.1  # in the blocks, after attention and feed-forward
    norm: Literal["pre", "post"] = "pre"  # layer norm before each sub-layer (and at the end), or after
    pooling: Literal["avg", "max", "max_mean", "cls"] = "avg"  # over the tokens, or a prepended [CLS] token's vector


@dataclass
class LocalTransformerConfig(TransformerConfig):
    """Attention only within windows of `window_size` tokens (optionally overlapping by half)."""

    type: Literal["local_transformer"] = "local_transformer"  # picks this encoder
    window_size: int = 64  # tokens per attention window
    overlap: bool = True  # each window also sees half a window on either side (window_size even)


@dataclass
class LongformerConfig(TransformerConfig):
    """Sliding-window attention plus global tokens (Beltagy et al. 2020)."""

    type: Literal["longformer"] = "longformer"  # picks this encoder
    attention_window: int = 128  # each token sees attention_window // 2 tokens on either side
    global_tokens: list[int] = field(default_factory=lambda: [0])  # positions; [CLS] is 0 with cls pooling
    # start from a BERT-architecture checkpoint (as `pretrained`'s preset): its WordPiece vocabulary, its
    # sizes (embedding_dim, layers, heads, ff_dim; post-norm) and weights, positions repeated to max_length
    init_from: str | None = None


@dataclass
class PretrainedConfig:
    """A BERT-architecture backbone: a keras-hub preset name, an hf:// id, or a local folder
    (Hugging Face format: config.json, model.safetensors, vocab.txt; or a keras-hub preset folder)."""

    type: Literal["pretrained"] = "pretrained"  # picks this encoder
    preset: str = ""  # the checkpoint: a keras-hub preset name, an hf:// id or a local folder
    freeze: bool = False  # keep the backbone's weights fixed (and cache its features when possible)
    pooling: Literal["cls", "pooled", "mean"] = "pooled"  # [CLS] vector, BERT's pooler (dense+tanh on it), or mean
    learning_rate: float | None = None  # the backbone's peak rate when fine-tuning (default: train.learning_rate)
    dropout: float | None = None  # default: the checkpoint's own (0.1 for BERT); a frozen backbone uses none


@dataclass
class BagOfNgramsConfig:
    """The words and hashed word n-grams of a text, each a vector, averaged (fastText, Joulin et al. 2017): a
    linear bag-of-n-grams view, what TF-IDF + logistic regression and NBSVM read, beside a sequence encoder."""

    type: Literal["bow"] = "bow"  # picks this encoder
    embedding_dim: int = 16  # size of each word's and n-gram's vector
    word_dropout: float = 0.0  # while training, replace this share of the words with [UNK]
    ngram_buckets: int = 400_000  # rows the word pairs (and triples) are hashed into; 0: words only
    ngram_order: Literal[2, 3] = 3  # 2: word pairs; 3: pairs and triples
    pooling: Literal["mean", "max_mean"] = "mean"  # over the real tokens
    dropout: float = 0.0  # on the pooled vector
    # the bag's own peak rate (default: train.learning_rate); beside a sequence encoder a lower one keeps
    # it from fitting train in one epoch while the other still learns
    learning_rate: float | None = None


@dataclass
class NBSVMConfig:
    """NBSVM (Wang & Manning 2012) as a trainable input: each word and hashed word n-gram present in the text
    (counted once) scores each class by its naive-Bayes log-count ratio, computed from the training rows
    when the model is built, times a weight learned around it (Howard's NBSVM++); the scores are summed.
    What NBSVM reads, one keras input beside a sequence encoder."""

    type: Literal["nbsvm"] = "nbsvm"  # picks this encoder
    ngram_buckets: int = 1_000_000  # rows the word pairs (and triples) are hashed into; 0: words only
    ngram_order: Literal[2, 3] = 3  # 2: word pairs; 3: pairs and triples
    alpha: float = 1.0  # naive-Bayes smoothing: added to every feature's count in each class
    # while training, score each text by ratios counted without its fold (one of `folds`, by its ids): out of
    # fold, as stacking does, so the path is as sure of a training text as of a new one; 0: off
    folds: int = 0
    learning_rate: float | None = None  # its own peak rate (default: train.learning_rate)


ENCODER_CONFIGS: dict[str, type] = {
    "bow": BagOfNgramsConfig,
    "nbsvm": NBSVMConfig,
    "cnn": CNNConfig,
    "rnn": RNNConfig,
    "transformer": TransformerConfig,
    "local_transformer": LocalTransformerConfig,
    "longformer": LongformerConfig,
    "pretrained": PretrainedConfig,
}
