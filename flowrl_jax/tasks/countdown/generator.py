"""Countdown problems: a generator with an exhaustive solver, splits, and the compact text format.

A problem is a multiset of small integers and a target; a solution is an expression over the
numbers with ``+ - * /`` (exact rational arithmetic, no unary minus) that equals the target, under
the same rules as the verifier ``flowrl_jax.rewards.countdown.verify`` (``numbers_use``: each
number at most once, or every number exactly once). The solver enumerates *all* solutions and
deduplicates them by ``canonical_form`` (commutativity/associativity of ``+`` and ``*``), so each
problem records how many genuinely different answers it has: the denominator of the diversity
metrics, and what ``sample_solution`` draws from to build a base model that knows many of them.

Problems: with few multisets (<= 2,000 of a size) every solvable problem is enumerated and a
seeded permutation is taken, so asking for more problems than exist is an error that says how
many there are; otherwise problems are drawn by rejection. Small ranges hold few problems: with
three numbers from 1-12 and targets 1-100 there are 5,906 (4,346 with ``exactly_once``); from
1-20, 22,857 (15,126).

Speed: the value set of every sub-multiset is built bottom-up and memoised by the sorted
multiset (shared by all problems), with values kept as ``int`` until a division makes them
fractional. One target's solutions are then found top-down by inverting the operators
(``a op b == target`` gives the single ``b`` to look up), recursing only into operand values that
lead to the target; no expression that misses the target is ever printed.

Text format (a tiny character-level model reads it, so it is short):

- prompt ``format_prompt([3, 5, 2], 16) == "3 5 2>16:"``: the numbers in the problem's order,
  separated by one space, then ``>`` and the target, then ``:``;
- response ``format_solution("(5+3)*2") == "2*(3+5)"``: the canonical form, minimal parentheses,
  no spaces; the model then emits EOS. The verifier reads it back as a bare expression.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from fractions import Fraction

import datasets
import numpy as np

from flowrl_jax.rewards.countdown import (
    NUMBERS_USE,
    CanonicalNode,
    canonical_form,
    combine,
    literal_node,
)

Value = int | Fraction
Multiset = tuple[int, ...]  # sorted

_OPS = ("+", "-", "*", "/")
MAX_SOLVER_NUMBERS = 6
"""The solver's cost grows super-exponentially with the count; beyond 6 it is not meant to run."""
_EXACT_UNIVERSE_MAX_MULTISETS = 2000
"""Up to this many multisets of one size, all problems are enumerated instead of sampled."""

FEATURES = datasets.Features(
    {
        "numbers": datasets.List(datasets.Value("int64")),
        "target": datasets.Value("int64"),
        "solutions": datasets.List(datasets.Value("string")),
        "num_solutions": datasets.Value("int64"),
        "prompt": datasets.Value("string"),
    }
)
"""Columns of every split: ``prompt`` is ``format_prompt(numbers, target)``; ``solutions`` are
canonical forms, sorted; ``num_solutions == len(solutions)``."""


def _normal(r: Value) -> Value:
    """Integral fractions as ``int``, so that ``int`` fast paths and type checks stay valid."""
    return r.numerator if type(r) is Fraction and r.denominator == 1 else r


def _div(a: Value, b: Value) -> Value:
    """``a / b`` exactly (``b != 0``), an ``int`` when integral."""
    if type(a) is int and type(b) is int:
        return a // b if a % b == 0 else Fraction(a, b)
    return _normal(a / b)


def _apply(op: str, a: Value, b: Value) -> Value | None:
    """``a op b`` exactly, normalised by ``_normal``; None for division by zero."""
    if op == "/":
        return None if b == 0 else _div(a, b)
    r = a + b if op == "+" else a - b if op == "-" else a * b
    return _normal(r)


def _operands_reaching(
    a: Value,
    right: Collection[Value],
    target: Value,
    right_has_fraction: bool = True,
    commutative: bool = True,
) -> list[tuple[str, Value]]:
    """Every ``(op, b)`` with ``b`` in ``right`` and ``a op b == target``.

    Inverting each operator makes finding one target's expressions linear in the left values
    instead of quadratic in all value pairs. ``right_has_fraction=False`` (``right`` holds only
    ints) lets the all-int case skip building ``Fraction`` objects, the solver's main cost;
    ``commutative=False`` leaves out ``+`` and ``*`` (found from the mirrored split).
    """
    if type(a) is int and type(target) is int:
        candidates = [("+", target - a), ("-", a - target)]
        if a:
            for op, num, den in (("*", target, a), ("/", a, target)):
                if den:
                    quotient, remainder = divmod(num, den)
                    if not remainder:
                        candidates.append((op, quotient))
                    elif right_has_fraction:
                        candidates.append((op, Fraction(num, den)))
    elif not right_has_fraction and type(target) is int:
        # a is a proper fraction p/q: only target / a = target*q/p can be an integer.
        numerator, remainder = divmod(target * a.denominator, a.numerator)
        candidates = [] if remainder else [("*", numerator)]
    else:
        candidates = [("+", _normal(target - a)), ("-", _normal(a - target))]
        if a != 0:
            candidates.append(("*", _div(target, a)))
            if target != 0:
                candidates.append(("/", _div(a, target)))
    found = [(op, b) for op, b in candidates if b in right]
    if a == 0 and target == 0:  # 0*b == 0 and 0/b == 0 for every (nonzero) b
        found += [("*", b) for b in right] + [("/", b) for b in right if b != 0]
    if not commutative:
        found = [(op, b) for op, b in found if op in "-/"]
    return found


@functools.lru_cache(maxsize=1 << 16)
def _splits(ms: Multiset) -> tuple[tuple[Multiset, Multiset], ...]:
    """Every ordered split of ``ms`` into two non-empty sub-multisets, each split once."""
    seen, out = set(), []
    indices = range(len(ms))
    for size in range(1, len(ms)):
        for chosen in itertools.combinations(indices, size):
            left = tuple(ms[i] for i in chosen)
            if left in seen:
                continue
            seen.add(left)
            right = tuple(ms[i] for i in indices if i not in chosen)
            out.append((left, right))
    return tuple(out)


@functools.lru_cache(maxsize=1 << 16)
def _sub_multisets(ms: Multiset) -> tuple[Multiset, ...]:
    """Distinct non-empty sub-multisets of ``ms`` (itself included)."""
    subs = {
        tuple(ms[i] for i in chosen)
        for size in range(1, len(ms) + 1)
        for chosen in itertools.combinations(range(len(ms)), size)
    }
    return tuple(sorted(subs))


class CountdownSolver:
    """Exhaustive, memoised Countdown solver; one instance can serve many problems.

    ``_values[ms]`` is the set of values of the expressions using exactly the sorted multiset
    ``ms``, built bottom-up from its sub-multisets and shared between problems. Deciding or
    solving one target never builds all expressions: it inverts each operator at the top
    (``a op b == target`` gives the one ``b`` to look up) and recurses only into the operand
    values that can lead to the target, so its cost follows the number of solutions.
    """

    def __init__(self, numbers_use: str = "at_most_once", *, max_cached: int = 20_000):
        if numbers_use not in NUMBERS_USE:
            raise ValueError(f"numbers_use must be one of {NUMBERS_USE}, got {numbers_use!r}")
        self.numbers_use = numbers_use
        self.max_cached = max_cached
        # sorted multiset -> (values of the expressions over exactly it, any non-integral value?)
        self._values: dict[Multiset, tuple[frozenset[Value], bool]] = {}
        # (multiset of at most 2 numbers, value) -> expressions; the rest is memoised per call
        self._small: dict[tuple[Multiset, Value], list[CanonicalNode]] = {}

    @staticmethod
    def _key(numbers: Iterable[int]) -> Multiset:
        ms = tuple(sorted(int(x) for x in numbers))
        if not 1 <= len(ms) <= MAX_SOLVER_NUMBERS:
            raise ValueError(f"the solver takes 1 to {MAX_SOLVER_NUMBERS} numbers, got {list(ms)}")
        return ms

    def _exact_values(self, ms: Multiset) -> tuple[frozenset[Value], bool]:
        cached = self._values.get(ms)
        if cached is not None:
            return cached
        if len(ms) == 1:
            result = frozenset(ms)
        else:
            values: set[Value] = set()
            add = values.add
            for left, right in _splits(ms):
                right_values = self._exact_values(right)[0]
                for a in self._exact_values(left)[0]:
                    a_is_int = type(a) is int
                    for b in right_values:
                        if a_is_int and type(b) is int:  # the common case, without Fraction
                            add(a + b)
                            add(a - b)
                            add(a * b)
                            if b:
                                add(a // b if a % b == 0 else Fraction(a, b))
                        else:
                            for op in _OPS:
                                r = _apply(op, a, b)
                                if r is not None:
                                    add(r)
            result = frozenset(values)
        if len(self._values) >= self.max_cached:  # bounded memory on huge number ranges
            self._values.clear()
            self._small.clear()
        entry = self._values[ms] = (result, any(type(v) is not int for v in result))
        return entry

    def _exact_reaches(self, ms: Multiset, target: Value) -> bool:
        if len(ms) == 1:
            return ms[0] == target
        for left, right in _splits(ms):
            right_values, has_fraction = self._exact_values(right)
            commutative = left <= right
            for a in self._exact_values(left)[0]:
                if _operands_reaching(a, right_values, target, has_fraction, commutative):
                    return True
        return False

    def _exact_solutions(
        self, ms: Multiset, target: Value, memo: dict[tuple[Multiset, Value], list[CanonicalNode]]
    ) -> list[CanonicalNode]:
        """Distinct canonical expressions over exactly ``ms`` with value ``target``."""
        key = (ms, target)
        if len(ms) <= 2:
            memo = self._small
        cached = memo.get(key)
        if cached is not None:
            return cached
        nodes: dict[str, CanonicalNode] = {}
        if len(ms) == 1:
            if ms[0] == target:
                nodes[str(ms[0])] = literal_node(ms[0])
        else:
            for left, right in _splits(ms):
                right_values, has_fraction = self._exact_values(right)
                # a+b and a*b from the split (left, right) are b+a and b*a from (right, left).
                commutative = left <= right
                for a in self._exact_values(left)[0]:
                    reaching = _operands_reaching(
                        a, right_values, target, has_fraction, commutative
                    )
                    for op, b in reaching:
                        for x in self._exact_solutions(left, a, memo):
                            for y in self._exact_solutions(right, b, memo):
                                node = combine(op, x, y)
                                nodes.setdefault(node.text, node)
        result = memo[key] = list(nodes.values())
        return result

    def _candidates(self, ms: Multiset) -> tuple[Multiset, ...]:
        return (ms,) if self.numbers_use == "exactly_once" else _sub_multisets(ms)

    def reachable(self, numbers: Iterable[int]) -> frozenset[Value]:
        """All values some valid expression over ``numbers`` reaches (under ``numbers_use``)."""
        candidates = self._candidates(self._key(numbers))
        return frozenset().union(*(self._exact_values(s)[0] for s in candidates))

    def solvable(self, numbers: Iterable[int], target: int) -> bool:
        """Whether some valid expression reaches ``target``; cheaper than ``reachable``."""
        return any(self._exact_reaches(s, target) for s in self._candidates(self._key(numbers)))

    def solve(self, numbers: Iterable[int], target: int) -> list[str]:
        """All solutions of ``numbers -> target``, one per canonical form, sorted."""
        memo: dict[tuple[Multiset, Value], list[CanonicalNode]] = {}
        texts = {
            node.text
            for s in self._candidates(self._key(numbers))
            for node in self._exact_solutions(s, target, memo)
        }
        return sorted(texts)


def solve(numbers: Sequence[int], target: int, *, numbers_use: str = "at_most_once") -> list[str]:
    """All canonical solutions of one problem (a fresh solver; use ``CountdownSolver`` for many)."""
    return CountdownSolver(numbers_use).solve(numbers, target)


# ---------------------------------------------------------------------------------------------
# Text format
# ---------------------------------------------------------------------------------------------


def format_prompt(numbers: Sequence[int], target: int) -> str:
    """``"3 5 2>16:"``: numbers in order, one space apart, ``>`` target, ``:`` (see module doc)."""
    return " ".join(str(int(x)) for x in numbers) + f">{int(target)}:"


def format_solution(expr: str) -> str:
    """The supervised target for ``expr``: its canonical form (minimal parentheses, no spaces).

    The model's full response is this text followed by EOS. Raises ``ValueError`` if ``expr`` is
    not a valid expression.
    """
    return canonical_form(expr)


def sample_solution(problem: Mapping, rng: random.Random | np.random.Generator) -> str:
    """One of ``problem["solutions"]``, uniformly (each canonical form equally likely)."""
    solutions = problem["solutions"]
    if not solutions:
        raise ValueError(f"problem has no solutions: {dict(problem)!r}")
    if isinstance(rng, np.random.Generator):
        return solutions[int(rng.integers(len(solutions)))]
    return solutions[rng.randrange(len(solutions))]


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def _num_multisets(count: int, span: int) -> int:
    return math.comb(span + count - 1, count)


def _sample_multiset(rng: random.Random, count: int, low: int, span: int) -> Multiset:
    """A multiset of ``count`` values in ``[low, low + span)``, uniform over multisets
    (stars and bars: a sorted ``count``-subset of ``span + count - 1`` slots)."""
    slots = sorted(rng.sample(range(span + count - 1), count))
    return tuple(low + s - i for i, s in enumerate(slots))


def _enumerate_universe(
    solver: CountdownSolver,
    count: int,
    low: int,
    high: int,
    targets: tuple[int, int],
    allow_trivial: bool,
) -> list[tuple[Multiset, int]]:
    """Every solvable problem (sorted numbers, target) with ``count`` numbers, in a fixed order."""
    t_low, t_high = targets
    keys = []
    for ms in itertools.combinations_with_replacement(range(low, high + 1), count):
        hits = {
            v
            for v in solver.reachable(ms)
            if isinstance(v, int) and t_low <= v <= t_high and (allow_trivial or v not in ms)
        }
        keys.extend((ms, t) for t in sorted(hits))
    return keys


def generate_problems(
    seed: int,
    num_problems: int,
    *,
    num_numbers: Sequence[int] = (3,),
    min_number: int = 1,
    max_number: int = 12,
    target_range: tuple[int, int] = (1, 100),
    numbers_use: str = "at_most_once",
    allow_trivial: bool = False,
    solver: CountdownSolver | None = None,
) -> list[dict]:
    """``num_problems`` distinct solvable problems, deterministic in ``seed``.

    Each problem's count of numbers is drawn uniformly from ``num_numbers``; given the count, the
    problem is uniform over the distinct solvable problems (sorted numbers, integer target in
    ``target_range`` inclusive, numbers in ``[min_number, max_number]``; unless
    ``allow_trivial``, the target is not itself one of the numbers). Small configurations are
    enumerated and permuted, which also tells exactly how many problems exist; large ones are
    drawn by rejection (a uniform multiset and a uniform target, kept if new and solvable).
    The numbers are shown in a random order.
    """
    counts = tuple(num_numbers)
    if not counts or any(not 1 <= c <= MAX_SOLVER_NUMBERS for c in counts):
        raise ValueError(f"num_numbers must be counts in 1..{MAX_SOLVER_NUMBERS}, got {counts}")
    if not 0 <= min_number <= max_number:
        raise ValueError(f"need 0 <= min_number <= max_number, got {min_number}, {max_number}")
    if target_range[0] > target_range[1]:
        raise ValueError(f"target_range must be (low, high) with low <= high, got {target_range}")
    solver = solver or CountdownSolver(numbers_use)
    if solver.numbers_use != numbers_use:
        raise ValueError(f"solver uses {solver.numbers_use!r} but numbers_use={numbers_use!r}")
    config = (
        f"numbers in [{min_number}, {max_number}], targets in {target_range}, "
        f"numbers_use={numbers_use!r}, allow_trivial={allow_trivial}"
    )

    rng = random.Random(seed)
    span = max_number - min_number + 1
    sources = {}
    enumerated, all_enumerated = 0, True
    for count in sorted(set(counts)):
        if _num_multisets(count, span) <= _EXACT_UNIVERSE_MAX_MULTISETS:
            keys = _enumerate_universe(
                solver, count, min_number, max_number, target_range, allow_trivial
            )
            enumerated += len(keys)
            sources[count] = _permuted(rng, keys, f"{count} numbers, {config}")
        else:
            all_enumerated = False
            sources[count] = _rejection_sampled(
                rng,
                solver,
                count,
                min_number,
                span,
                target_range,
                allow_trivial,
                max_draws=1000 + 1000 * num_problems,
                config=f"{count} numbers, {config}",
            )

    if all_enumerated and num_problems > enumerated:
        raise ValueError(
            f"asked for {num_problems} distinct problems but only {enumerated} exist with "
            f"num_numbers={counts}, {config}; widen the ranges or ask for fewer problems"
        )
    problems = []
    for _ in range(num_problems):
        ms, target = next(sources[counts[rng.randrange(len(counts))]])
        numbers = list(ms)
        rng.shuffle(numbers)
        solutions = solver.solve(ms, target)
        problems.append(
            {
                "numbers": numbers,
                "target": target,
                "solutions": solutions,
                "num_solutions": len(solutions),
                "prompt": format_prompt(numbers, target),
            }
        )
    return problems


def _permuted(rng: random.Random, keys: list, config: str) -> Iterator[tuple[Multiset, int]]:
    yield from rng.sample(keys, len(keys))
    raise ValueError(
        f"all {len(keys)} distinct problems with {config} are used; widen the ranges or ask "
        "for fewer problems"
    )


def _rejection_sampled(
    rng: random.Random,
    solver: CountdownSolver,
    count: int,
    low: int,
    span: int,
    target_range: tuple[int, int],
    allow_trivial: bool,
    *,
    max_draws: int,
    config: str,
) -> Iterator[tuple[Multiset, int]]:
    seen: set[tuple[Multiset, int]] = set()
    for _ in range(max_draws):
        ms = _sample_multiset(rng, count, low, span)
        target = rng.randint(*target_range)
        key = (ms, target)
        if key in seen or (not allow_trivial and target in ms) or not solver.solvable(ms, target):
            continue
        seen.add(key)
        yield key
    raise ValueError(
        f"found only {len(seen)} distinct solvable problems with {config} in {max_draws} draws; "
        "widen the ranges or ask for fewer problems"
    )


def _to_dataset(problems: list[dict]) -> datasets.Dataset:
    columns = {name: [p[name] for p in problems] for name in FEATURES}
    return datasets.Dataset.from_dict(columns, features=FEATURES)


def generate_splits(
    seed: int,
    num_train: int,
    num_val: int,
    num_test: int,
    *,
    num_numbers: Sequence[int] = (3,),
    min_number: int = 1,
    max_number: int = 12,
    target_range: tuple[int, int] = (1, 100),
    numbers_use: str = "at_most_once",
    allow_trivial: bool = False,
) -> datasets.DatasetDict:
    """Disjoint ``train`` / ``validation`` / ``test`` splits of distinct problems (see
    ``generate_problems`` for the options and ``FEATURES`` for the columns).

    One stream of distinct problems is cut test first, then validation, then train, so no
    problem (sorted numbers and target) is in two splits, and for a given seed the evaluation
    splits stay the same whatever ``num_train`` is.
    """
    sizes = {"test": num_test, "validation": num_val, "train": num_train}
    if any(n < 0 for n in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    problems = generate_problems(
        seed,
        sum(sizes.values()),
        num_numbers=num_numbers,
        min_number=min_number,
        max_number=max_number,
        target_range=target_range,
        numbers_use=numbers_use,
        allow_trivial=allow_trivial,
    )
    splits, start = {}, 0
    for name, n in sizes.items():
        splits[name] = _to_dataset(problems[start : start + n])
        start += n
    return datasets.DatasetDict({name: splits[name] for name in ("train", "validation", "test")})
