"""The ``fm`` search engine: batched oblivious backward search on a secret-shared FM-index, seed-and-verify.

Same roles, inputs and answer as the scan engine (:mod:`..search`): the reference owner inputs the
reference, the querier the reads, and only the querier learns the hits, plus (this engine's price, see
:data:`LEAKAGE`) one bit per read strand or seed: did its exact occurrences exceed the public ``cap``?
The package reads plan -> protocol -> result:

- :mod:`.layout`   public layout: patterns, seeds, backward-search chunks, bit widths, field bounds;
- :mod:`.plan`     :func:`plan`: step h, column chunks, batch and verification chunk within a memory
  budget, with the predicted peak per party and seconds (the cost model of ``--engine auto``);
- :mod:`.index`    :class:`SecureFMIndex`, built once per run;
- :mod:`.merge`    the merge (rows and queries in one radix sort, lanes copied by a scatter) and the
  shuffle within groups that makes every opening's order independent of the data;
- :mod:`.shares`   masks, masked tests, bit decomposition of field elements;
- :mod:`.protocol` backward search, k = 0 locations, k > 0 seed-and-verify, :func:`fm_engine`;
- :mod:`.twin`     :func:`fm_search_plain`, the plaintext twin (the very same answer, overflows included).

**The index.** The indexed text T is the records concatenated, N read as A (windows with N or across
records are filtered below); its suffix array comes from the secure BWT construction (``build="secure"``)
or is computed by the reference owner and secret-shared (``build="owner"``).  Row j holds the h-step key of
suffix x = SA[j]: (T[x..x+h) as 2-bit codes, full = [x + h <= n], psi = ISA[x + h] if full else n - x) --
the n-step FM-index (Chacon et al. 2013) in sorted form: ``C[w] + Occ(w, s)`` is the number of rows whose
key is below (w, 1, s).

**A backward-search step for a whole batch** merges the batch's 2 x patterns interval bounds with the n + 1
rows in one stable radix sort; each bound gets the lanes of the row its new value names.  Patterns longer
than h take ceil(len / h) steps.

**k = 0.**  After the last step a read strand's interval [s, e) lists its exact occurrences.  The querier is
opened r (c - j) for j = 0..cap: it learns c if c <= cap, else only c > cap.  It secret-shares which of
the first ``cap`` rows to open; those rows' (position + 1 + r * spoil, r' * spoil) -- spoil counting N bases
and record crossings of the window -- are shuffled within the read strand's slots and opened.

**k > 0, seed-and-verify.**  Each read strand is cut into k + 1 seeds; all are searched in one batch; the
querier is opened r * prod_{j=0..cap} (c - j) per seed.  The SA entries of the first ``cap`` rows from every
seed's interval start are the candidates; each candidate start is bit-decomposed, one merge with the
verification table (per text position: the window packed 10 bases per field element, 3 bits a base)
copies its window in a few words, the words are bit-decomposed, compared with the read's one-hot in one
inner product, and the querier is opened, shuffled within each read strand's candidates, r (d - e) for
e = 0..k and the start plus r * prod_e (d - e): exactly the hits.

**Cost** (docs/search.md has the numbers): per step, one radix sort of n + 1 + 2 x patterns rows with
2h + log n + 3 key bits and a scatter of the lanes; for k > 0 one more merge of n + 1 + shift + candidates
rows with ~log n key bits and ceil(m / 10) + 1 lanes, and 31-bit decompositions of about ceil(m/10) + 1
elements per candidate.  Memory is planned (:func:`plan`) from the public sizes.
"""

from ...core import PERMUTATION_LEAKAGE
from ..bwt import HIDING_LABELS as BWT_HIDING_LABELS
from ..bwt import LEAKAGE as BWT_LEAKAGE
from .index import SecureFMIndex
from .layout import (BUILDS, DEFAULT_CAP, REPETITIONS, Pattern, check_field_bounds, check_parameters, chunk_of,
                     default_step, patterns_of, seed_layout, steps_of)
from .plan import COST_SECONDS, FM_BATCH, cost_features, estimated_seconds, plan
from .protocol import FMOutcome, FMResult, backward_search, fm_engine, search_batch
from .shares import LEAKAGE as SHARES_LEAKAGE
from .twin import fm_search_plain

LEAKAGE: dict[str, str] = {
    **PERMUTATION_LEAKAGE,  # every merge, the index build and the shuffles within groups open only these
    # fm_build="secure" only: the secure BWT construction's statistically/perfectly hiding openings
    **{label: text for label, text in BWT_LEAKAGE.items() if label in BWT_HIDING_LABELS},
    **SHARES_LEAKAGE,  # k > 0: bit decompositions open uniformly masked values to one party
    "fm.count_tests": "k = 0, to the querier only: for every read strand and j = 0..cap, r*(c-j) with c the "
                      "number of exact occurrences, those spoiled by N or a record boundary included "
                      "(uniform if the strand has N): reveals c when c <= cap, else only that c > cap",
    "fm.locations": "k = 0, to the querier only: for the first min(c, cap) occurrences in suffix-array order "
                    "(when c > cap that subset depends on the reference's lexicographic order), in random "
                    "order within the read strand: the position + 1 of every hit, uniform values for an "
                    "occurrence spoiled by N or a record boundary, zeros for the slots it did not select",
    "fm.overflow_tests": "k > 0, to the querier only: for every seed, r*prod_{j=0..cap}(c-j) (uniform if the "
                         "seed has N): zero iff the seed occurs at most cap times: one bit per seed",
    "fm.verify_tests": "k > 0, to the querier only: for each candidate window (in random order within its "
                       "read strand) and e = 0..k, r*(d-e): zero where the window has exactly e mismatches, "
                       "uniform otherwise",
    "fm.verify_positions": "k > 0, to the querier only: each candidate's window start plus "
                           "r*prod_{e=0..k}(d-e), in the order of fm.verify_tests: the start of every hit "
                           "(as often as the read strand's candidates name it), uniform otherwise",
}

__all__ = ["LEAKAGE", "BUILDS", "DEFAULT_CAP", "REPETITIONS", "FM_BATCH", "COST_SECONDS", "Pattern", "SecureFMIndex",
           "FMOutcome", "FMResult", "backward_search", "check_field_bounds", "check_parameters", "chunk_of",
           "cost_features", "default_step", "estimated_seconds", "fm_engine", "fm_search_plain", "patterns_of",
           "plan", "search_batch", "seed_layout", "steps_of"]
