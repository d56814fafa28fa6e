"""The PROSE multimodal transformer (Liu, Zhang, Schaeffer 2023) and its named configs.

    >>> from symsim.prose.tokens import VOCAB
    >>> _ = torch.manual_seed(0)
    >>> config = load_config("tiny", **VOCAB.config_ids())
    >>> model = ProseModel(config)                      # untrained
    >>> times = torch.linspace(0.0, 6.0, 192)
    >>> batch = {"data_times": times[None, :64], "data_values": torch.ones(1, 64, 5),
    ...          "dim_mask": torch.tensor([[True, True, True, False, False]]),   # a 3-D system
    ...          "query_times": times[None, 64:],
    ...          "symbol_target": torch.tensor([VOCAB.ids(["<bos>", "u_0", "|", "u_1", "|", "u_2", "<eos>"])])}
    >>> out = model(batch)
    >>> out.query_values.shape, out.symbol_logits.shape    # (B, Tq, 5), (B, Lt - 1, V)
    (torch.Size([1, 128, 5]), torch.Size([1, 6, 957]))
    >>> ids = model.greedy_decode(batch, max_len=20)       # [[id, id, ...], ...] without bos and eos
    >>> len(ids), len(ids[0]) <= 20
    (1, True)

Five parts, as in the paper:

1. data encoder: each observation time becomes one token, the sum of a Fourier-feature
   embedding of ``t`` and an MLP of (scaled values of present channels, the channel mask,
   log10 of the sample's value scale); then self-attention layers.
2. symbol encoder: token + learned position embeddings of the guessed skeleton, then
   self-attention layers with a key padding mask.
3. fusion: self-attention layers over [data tokens; symbol tokens], each part marked by a
   learned modality embedding. Symbol pads are masked keys; a row that is all pad has no
   symbol input, so its whole symbol part is masked and only the data speaks.
4. operator decoder: each query time (same time embedding as the data) cross-attends to the
   fused tokens; query times do not attend to each other, so the prediction at one time
   does not depend on which other times were asked (PROSE's cross-attention-only decoder).
5. symbol decoder: a causal transformer decoder over the target tokens, cross-attending to
   the fused tokens; its output layer is tied to the token embedding. Greedy and beam
   decoding take an optional :class:`~.grammar.SymbolGrammar` that masks the tokens the
   language forbids next. Decoding keeps no key/value cache: each step reruns the decoder
   over the prefix, cheap for equations of a few hundred tokens.

Both decoders read the whole fused sequence (data and symbol parts; the reference
implementation can also split it). All layers are pre-norm, GELU, as in the reference code.

Value scaling: states reach |u| ~ 1e3 while a transformer wants inputs of order one. Each
sample is divided by ``scale``, the RMS of its observed values over present channels (floored
at ``MIN_VALUE_SCALE``); the operator decoder predicts in those units and the output is
multiplied back, so ``query_values`` is in the data's own units. One scale for all channels
keeps the channels' relative sizes, which the equations relate; log10(scale) is an input
feature so that the symbol decoder still sees the absolute magnitude (coefficients of
nonlinear terms depend on it). :func:`symsim.prose.training.prose_loss` compares predictions
in scaled units, so every sample weighs the same in the loss.

Parameter counts (``count_parameters``; the token embedding adds ``width * vocab_size``):

======  =====  =====  ============  ==============================  =============================
config  width  heads  feed-forward  layers: data enc, symbol enc,   parameters
                                    fusion, operator, symbol dec
======  =====  =====  ============  ==============================  =============================
tiny    64     2      128           1, 1, 2, 1, 2                   345,669 + 64 * vocab_size
small   128    4      512           2, 1, 2, 2, 2                   2,089,093 + 128 * vocab_size
paper   512    8      2048          2, 4, 8, 8, 8                   104,066,053 + 512 * vocab_size
======  =====  =====  ============  ==============================  =============================

The paper's sizes are those of the reference implementation's defaults (prose_ode/parsers.py
of github.com/felix-lyx/prose): width 512, 8 heads, feed-forward 2048, data encoder 2, symbol
encoder 4, fusion 8, data (operator) decoder 8 and symbol decoder 8 layers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional

from ..errors import OptionError
from .grammar import SymbolGrammar

#: The named configs, ``<name>.json`` here, are package data.
CONFIG_DIR = Path(__file__).parent / "configs"

#: Observed windows of (nearly) zero states would otherwise be divided by zero.
MIN_VALUE_SCALE = 1e-6

#: Periods of the time embedding's Fourier features, from below the sampling interval of
#: the observations (2 / 64 ~ 0.03) to several times the horizon [0, 6].
SHORTEST_PERIOD, LONGEST_PERIOD = 1 / 16, 32.0


@dataclasses.dataclass(frozen=True)
class ProseConfig:
    """Sizes of a :class:`ProseModel` (defaults: ``tiny``); the vocabulary comes from the tokenizer."""

    width: int = 64
    heads: int = 2
    feed_forward_width: int = 128
    dropout: float = 0.0
    data_encoder_layers: int = 1
    symbol_encoder_layers: int = 1
    fusion_layers: int = 2
    operator_decoder_layers: int = 1
    symbol_decoder_layers: int = 2
    #: channels of ``data_values`` (systems of dimension 1..channels)
    channels: int = 5
    #: longest symbol input or target (learned position embeddings)
    max_symbol_length: int = 512
    #: Fourier frequencies of the time embedding (2 features each)
    time_frequencies: int = 16
    vocab_size: int = 0
    pad_id: int = -1
    bos_id: int = -1
    eos_id: int = -1

    def __post_init__(self):
        for name in ("width", "heads", "feed_forward_width", "data_encoder_layers", "symbol_encoder_layers",
                     "fusion_layers", "operator_decoder_layers", "symbol_decoder_layers", "channels",
                     "max_symbol_length", "time_frequencies"):
            if getattr(self, name) < 1:
                raise OptionError(f"ProseConfig: {name} must be at least 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise OptionError(f"ProseConfig: width {self.width} is not a multiple of heads {self.heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError(f"ProseConfig: dropout must lie in [0, 1), got {self.dropout}")

    def require_vocabulary(self):
        """Raise unless the vocabulary fields were given (the JSON configs leave them unset)."""
        ids = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        if self.vocab_size < 1 or any(not 0 <= i < self.vocab_size for i in ids.values()):
            raise OptionError(f"ProseConfig: vocab_size={self.vocab_size} and {ids} do not describe a vocabulary; "
                              "pass vocab_size, pad_id, bos_id, eos_id (from symsim.prose.tokens.VOCAB)")

    @classmethod
    def from_dict(cls, values: dict, source: str = "ProseConfig") -> ProseConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"{source}: unknown config keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain ints, floats: JSON- and ``torch.load(weights_only=True)``-safe."""
        return dataclasses.asdict(self)


def load_config(name_or_path: str | Path, **overrides) -> ProseConfig:
    """The config named ``tiny``/``small``/``paper`` (or a JSON file), with ``overrides`` applied.

        >>> load_config("small", vocab_size=80, pad_id=0, bos_id=1, eos_id=2).width
        128
    """
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = CONFIG_DIR / f"{name_or_path}.json"
        if not path.exists():
            names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
            raise OptionError(f"unknown PROSE config {str(name_or_path)!r}; named configs are {names} "
                              "(or give a path ending in .json)")
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise OptionError(f"cannot read PROSE config {path}: {error}") from error
    return ProseConfig.from_dict({**values, **overrides}, source=str(path))


class FusedFeatures(NamedTuple):
    """What both decoders read: the fused tokens, which of them are masked, and the value scale."""

    features: torch.Tensor        # (B, Ti + Ls, width)
    padding_mask: torch.Tensor    # (B, Ti + Ls) bool, True = ignored key
    value_scale: torch.Tensor     # (B,) RMS of the observed values


class ProseOutput(NamedTuple):
    symbol_logits: torch.Tensor   # (B, Lt - 1, vocab): position i predicts symbol_target[:, i + 1]
    query_values: torch.Tensor    # (B, Tq, channels) in the data's units, zero in absent channels
    value_scale: torch.Tensor     # (B,)


def observed_value_scale(values: torch.Tensor, dim_mask: torch.Tensor) -> torch.Tensor:
    """RMS of ``values`` (B, T, C) over times and present channels: (B,), at least MIN_VALUE_SCALE."""
    present = dim_mask[:, None, :]
    squares = torch.where(present, values, 0.0).square().sum(dim=(1, 2))
    count = present.sum(dim=(1, 2)).clamp(min=1) * values.shape[1]
    return (squares / count).sqrt().clamp(min=MIN_VALUE_SCALE)


class FourierTimeEmbedding(nn.Module):
    """t (B, T) -> (B, T, width): sin and cos of geometrically spaced frequencies, then an MLP."""

    def __init__(self, width: int, frequencies: int):
        super().__init__()
        periods = torch.logspace(math.log10(SHORTEST_PERIOD), math.log10(LONGEST_PERIOD), frequencies)
        # not in the state dict: a fixed function of the config
        self.register_buffer("angular_frequencies", 2 * math.pi / periods, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, times):
        phases = times[..., None] * self.angular_frequencies
        return self.mlp(torch.cat([phases.sin(), phases.cos()], dim=-1))


class CrossAttentionLayer(nn.Module):
    """Pre-norm cross-attention + feed-forward block: queries read the memory, not each other."""

    def __init__(self, config: ProseConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.width)
        self.attention = nn.MultiheadAttention(config.width, config.heads, dropout=config.dropout, batch_first=True)
        self.feed_forward_norm = nn.LayerNorm(config.width)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.width, config.feed_forward_width), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.feed_forward_width, config.width))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, queries, memory, memory_padding_mask):
        attended, _ = self.attention(self.attention_norm(queries), memory, memory,
                                     key_padding_mask=memory_padding_mask, need_weights=False)
        queries = queries + self.dropout(attended)
        return queries + self.dropout(self.feed_forward(self.feed_forward_norm(queries)))


def self_attention_stack(config: ProseConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(config.width, config.heads, config.feed_forward_width, config.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
    # pre-norm layers leave the residual stream unnormalized: a final norm closes the stack
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(config.width), enable_nested_tensor=False)


def causal_mask(length: int, device) -> torch.Tensor:
    """(length, length) bool, True above the diagonal: position i may not read positions > i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)


class ProseModel(nn.Module):
    """Trajectory (+ optional equation guess) -> continued trajectory and equation tokens."""

    def __init__(self, config: ProseConfig):
        super().__init__()
        config.require_vocabulary()
        self.config = config
        width, channels = config.width, config.channels
        self.time_embedding = FourierTimeEmbedding(width, config.time_frequencies)
        # per time: scaled values, channel mask, log10(scale)
        self.value_embedding = nn.Sequential(nn.Linear(2 * channels + 1, width), nn.GELU(), nn.Linear(width, width))
        self.data_encoder = self_attention_stack(config, config.data_encoder_layers)

        # one token table for the symbol encoder, the decoder input and (tied) the decoder output
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        nn.init.normal_(self.token_embedding.weight, std=width ** -0.5)
        self.symbol_encoder_positions = nn.Embedding(config.max_symbol_length, width)
        self.symbol_encoder = self_attention_stack(config, config.symbol_encoder_layers)

        self.modality_embedding = nn.Embedding(2, width)     # 0: data, 1: symbols
        self.fusion = self_attention_stack(config, config.fusion_layers)

        self.operator_decoder = nn.ModuleList(CrossAttentionLayer(config)
                                              for _ in range(config.operator_decoder_layers))
        self.operator_norm = nn.LayerNorm(width)
        self.operator_head = nn.Linear(width, channels)

        self.symbol_decoder_positions = nn.Embedding(config.max_symbol_length, width)
        decoder_layer = nn.TransformerDecoderLayer(width, config.heads, config.feed_forward_width, config.dropout,
                                                   activation="gelu", batch_first=True, norm_first=True)
        self.symbol_decoder = nn.TransformerDecoder(decoder_layer, config.symbol_decoder_layers,
                                                    norm=nn.LayerNorm(width))
        for positions in (self.symbol_encoder_positions, self.symbol_decoder_positions, self.modality_embedding):
            nn.init.normal_(positions.weight, std=0.02)

    # -- the parts ---------------------------------------------------------------------------

    def embed_tokens(self, tokens, positions: nn.Embedding):
        length = tokens.shape[1]
        if length > self.config.max_symbol_length:
            raise OptionError(f"symbol sequence of length {length} exceeds max_symbol_length="
                              f"{self.config.max_symbol_length} of the PROSE config")
        # the table's entries have size ~1/sqrt(width) (right for the tied output layer): rescale to ~1
        scaled = self.token_embedding(tokens) * math.sqrt(self.config.width)
        return scaled + positions(torch.arange(length, device=tokens.device))

    def encode_data(self, times, values, dim_mask):
        """(B, Ti) times, (B, Ti, C) values, (B, C) mask -> (B, Ti, width) tokens, (B,) scale."""
        scale = observed_value_scale(values, dim_mask)
        present = dim_mask[:, None, :].expand_as(values)
        # where, not multiply: whatever sits in an absent channel (even nan) must not leak
        scaled = torch.where(present, values / scale[:, None, None], 0.0)
        log_scale = scale.log10()[:, None, None].expand(-1, values.shape[1], 1)
        features = torch.cat([scaled, present.to(values.dtype), log_scale], dim=-1)
        tokens = self.value_embedding(features) + self.time_embedding(times)
        return self.data_encoder(tokens), scale

    def encode_symbols(self, symbol_input):
        """(B, Ls) ids -> (B, Ls, width) tokens (zero for rows without symbol input), (B, Ls) pad mask."""
        padding = symbol_input == self.config.pad_id
        absent = padding.all(dim=1)
        # an all-pad row would mask every key (softmax of nothing = nan); let it read position 0,
        # then zero its output: fusion masks it anyway
        readable = padding.clone()
        readable[:, 0] &= ~absent
        encoded = self.symbol_encoder(self.embed_tokens(symbol_input, self.symbol_encoder_positions),
                                      src_key_padding_mask=readable)
        return torch.where(absent[:, None, None], 0.0, encoded), padding

    def encode(self, batch: dict) -> FusedFeatures:
        """Both encoders and the fusion; no ``symbol_input`` (or one of width 0) means none for any sample."""
        values = batch["data_values"]
        data, scale = self.encode_data(batch["data_times"], values, batch["dim_mask"])
        symbol_input = batch.get("symbol_input")
        if symbol_input is None or symbol_input.shape[1] == 0:
            symbol_input = torch.full((values.shape[0], 1), self.config.pad_id, dtype=torch.long, device=values.device)
        symbols, symbol_padding = self.encode_symbols(symbol_input)
        tokens = torch.cat([data + self.modality_embedding.weight[0], symbols + self.modality_embedding.weight[1]], 1)
        data_padding = torch.zeros(data.shape[:2], dtype=torch.bool, device=data.device)
        padding_mask = torch.cat([data_padding, symbol_padding], dim=1)
        return FusedFeatures(self.fusion(tokens, src_key_padding_mask=padding_mask), padding_mask, scale)

    def predict_values(self, fused: FusedFeatures, query_times, dim_mask):
        """(B, Tq) query times -> (B, Tq, C) states in the data's units, zero in absent channels."""
        queries = self.time_embedding(query_times)
        for layer in self.operator_decoder:
            queries = layer(queries, fused.features, fused.padding_mask)
        scaled = self.operator_head(self.operator_norm(queries))
        return torch.where(dim_mask[:, None, :], scaled * fused.value_scale[:, None, None], 0.0)

    def symbol_logits(self, fused: FusedFeatures, tokens):
        """(B, L) decoder input (bos first) -> (B, L, vocab); position i sees tokens[:, :i + 1] only."""
        length = tokens.shape[1]
        hidden = self.symbol_decoder(self.embed_tokens(tokens, self.symbol_decoder_positions), fused.features,
                                     tgt_mask=causal_mask(length, tokens.device), tgt_is_causal=True,
                                     memory_key_padding_mask=fused.padding_mask)
        return functional.linear(hidden, self.token_embedding.weight)

    def predict_trajectory(self, batch: dict) -> torch.Tensor:
        """(B, Tq, C) states at ``batch["query_times"]``; needs no symbol target."""
        return self.predict_values(self.encode(batch), batch["query_times"], batch["dim_mask"])

    def forward(self, batch: dict) -> ProseOutput:
        """Teacher forcing: ``symbol_logits[:, i]`` predicts ``symbol_target[:, i + 1]``."""
        fused = self.encode(batch)
        return ProseOutput(self.symbol_logits(fused, batch["symbol_target"][:, :-1]),
                           self.predict_values(fused, batch["query_times"], batch["dim_mask"]),
                           fused.value_scale)

    # -- decoding ----------------------------------------------------------------------------

    def _encode_for_decoding(self, batch: dict) -> FusedFeatures:
        device = self.token_embedding.weight.device
        return self.encode({key: value.to(device) for key, value in batch.items() if isinstance(value, torch.Tensor)})

    def _next_token_log_probabilities(self, fused: FusedFeatures, tokens):
        logits = self.symbol_logits(fused, tokens)[:, -1]
        # never pad or bos: the tied output layer gives them logits like any other token
        logits[:, [self.config.pad_id, self.config.bos_id]] = -math.inf
        return logits.log_softmax(dim=-1)

    def _strip(self, ids: list[int]) -> list[int]:
        """Generated ids up to (without) eos."""
        return ids[:ids.index(self.config.eos_id)] if self.config.eos_id in ids else ids

    def _start_grammar(self, grammar, batch: dict, max_len: int, copies: int = 1):
        if grammar is None:
            return None
        dimension = batch["dim_mask"].sum(dim=1).to(self.token_embedding.weight.device)
        return grammar.start(dimension.repeat_interleave(copies), max_len)

    @torch.no_grad()
    def greedy_decode(self, batch: dict, max_len: int, grammar: SymbolGrammar | None = None) -> list[list[int]]:
        """The most likely next token at each step, at most ``max_len`` tokens (eos included) per sample.

        With a ``grammar``, the most likely token it allows (see :mod:`.grammar`); each sample's
        stream then has as many equations as ``batch["dim_mask"]`` has channels.
        """
        with evaluation_mode(self):
            fused = self._encode_for_decoding(batch)
            count = fused.features.shape[0]
            tokens = torch.full((count, 1), self.config.bos_id, dtype=torch.long, device=fused.features.device)
            finished = torch.zeros(count, dtype=torch.bool, device=tokens.device)
            state = self._start_grammar(grammar, batch, max_len)
            for _ in range(max_len):
                log_probabilities = self._next_token_log_probabilities(fused, tokens)
                if state is not None:
                    log_probabilities.masked_fill_(~state.allowed(), -math.inf)
                chosen = log_probabilities.argmax(dim=-1)
                chosen = torch.where(finished, self.config.pad_id, chosen)
                if state is not None:
                    state.advance(chosen)
                tokens = torch.cat([tokens, chosen[:, None]], dim=1)
                finished |= chosen == self.config.eos_id
                if finished.all():
                    break
            return [self._strip(row) for row in tokens[:, 1:].tolist()]

    @torch.no_grad()
    def beam_decode(self, batch: dict, beam_size: int, max_len: int, length_penalty: float = 0.0,
                    grammar: SymbolGrammar | None = None) -> list[list[int]]:
        """The best hypothesis per sample, by (sum of log-probabilities) / length**length_penalty.

        Each step keeps the ``beam_size`` best continuations that do not end; those that end
        (eos among the ``beam_size`` best) become hypotheses. A sample stops once no live beam
        can beat its best hypothesis: a beam's sum only falls, so its score is at most
        sum / max_len**length_penalty. At ``max_len`` the live beams compete as they stand.
        With the default ``length_penalty`` 0, ``beam_size`` 1 is greedy decoding; a positive
        penalty favours longer hypotheses. A ``grammar`` masks the tokens it refuses before the
        beams are ranked, as in :meth:`greedy_decode`.
        """
        if beam_size < 1 or length_penalty < 0:
            raise OptionError(f"beam_decode: need beam_size >= 1 and length_penalty >= 0, "
                              f"got {beam_size} and {length_penalty}")
        with evaluation_mode(self):
            fused = self._encode_for_decoding(batch)
            count, device = fused.features.shape[0], fused.features.device
            fused = FusedFeatures(*(part.repeat_interleave(beam_size, dim=0) for part in fused))
            tokens = torch.full((count * beam_size, 1), self.config.bos_id, dtype=torch.long, device=device)
            scores = torch.full((count, beam_size), -math.inf, device=device)
            scores[:, 0] = 0.0        # the beams start identical: only one may expand
            best_scores = [-math.inf] * count
            best: list[list[int] | None] = [None] * count
            done = [False] * count
            state = self._start_grammar(grammar, batch, max_len, copies=beam_size)
            for step in range(max_len):
                log_probabilities = self._next_token_log_probabilities(fused, tokens)
                if state is not None:
                    log_probabilities.masked_fill_(~state.allowed(), -math.inf)
                vocab = log_probabilities.shape[-1]
                totals = (scores[:, :, None] + log_probabilities.view(count, beam_size, vocab)).view(count, -1)
                # 2 * beam_size: at most beam_size end (one per beam), so beam_size go on
                top_scores, top_index = totals.topk(min(2 * beam_size, totals.shape[1]), dim=1)
                beam, token = top_index // vocab, top_index % vocab
                ends = token == self.config.eos_id
                for sample, rank in ends[:, :beam_size].nonzero().tolist():
                    score = top_scores[sample, rank].item() / (step + 1) ** length_penalty
                    if not done[sample] and score > best_scores[sample]:
                        best_scores[sample] = score
                        best[sample] = tokens[sample * beam_size + beam[sample, rank], 1:].tolist()
                keep = (ends.long() * ends.shape[1] + torch.arange(ends.shape[1], device=device)).argsort(dim=1)
                keep = keep[:, :beam_size]
                scores = top_scores.gather(1, keep)
                rows = (torch.arange(count, device=device)[:, None] * beam_size + beam.gather(1, keep)).view(-1)
                tokens = torch.cat([tokens[rows], token.gather(1, keep).view(-1, 1)], dim=1)
                if state is not None:
                    state = state.select(rows)
                    state.advance(tokens[:, -1])
                bounds = (scores.max(dim=1).values / max_len ** length_penalty).tolist()
                done = [finished or best_score >= bound for finished, best_score, bound
                        in zip(done, best_scores, bounds)]
                if all(done):
                    break
            for sample in range(count):
                for k in range(beam_size):
                    score = scores[sample, k].item() / max_len ** length_penalty
                    if not done[sample] and score > best_scores[sample]:
                        best_scores[sample] = score
                        best[sample] = tokens[sample * beam_size + k, 1:].tolist()
            return [hypothesis if hypothesis is not None else [] for hypothesis in best]


@contextlib.contextmanager
def evaluation_mode(model: nn.Module):
    """``with evaluation_mode(model):`` no dropout inside; the model's previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
