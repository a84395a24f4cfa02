"""Dataset sources (files and hf:), dotted field paths, prompts as strings or chat messages,
prompt templates, and the count of refused rows (data.on_bad_row)."""

from __future__ import annotations

import json
import logging

import pytest

from flowrl_jax.data import DataError, build_prompt, field, read_rows
from flowrl_jax.tasks import get_task
from flowrl_jax.train.config import base_config

ROWS = [{"prompt": "1+1", "answer": "2"}, {"prompt": "2+2", "answer": "4"}]


def _data(**values):
    data = base_config().data
    data.update(values)
    return data


def test_jsonl_json_and_parquet_give_the_same_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    (tmp_path / "a.json").write_text(json.dumps(ROWS))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.json", "a.parquet"):
        assert read_rows(str(tmp_path / name)) == ROWS, name


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"empty\.jsonl: the dataset holds no rows"),
        (b"\n  \n", r"empty\.jsonl: the dataset holds no rows"),
        (b'{"prompt": "a"}\n{"prompt": \n', r"empty\.jsonl: line 2: not valid JSON"),
        (b'{"prompt": "a"}\n[1, 2]\n', r"empty\.jsonl: row 1: expected a JSON object, got list"),
        (b'{"prompt": "caf\xe9"}\n', r"empty\.jsonl: not UTF-8 text \(byte 15, line 1"),
    ],
)
def test_unreadable_files_name_the_file_and_the_place(tmp_path, content, match):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_rows(str(path))


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match=r"nope\.jsonl' does not exist \(data\.train_path"):
        read_rows(str(tmp_path / "nope.jsonl"))
    (tmp_path / "rows.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.csv'"):
        read_rows(str(tmp_path / "rows.csv"))


def test_dotted_paths_reach_nested_fields_and_errors_say_what_is_there():
    row = {"reward_model": {"ground_truth": "7"}, "prompt": [{"role": "user", "content": "q"}]}
    assert field(row, "reward_model.ground_truth", "f: row 0") == "7"
    assert field(row, "prompt.0.content", "f: row 0") == "q"
    assert field({"a.b": 1}, "a.b", "f: row 0") == 1  # a column whose name has a dot
    with pytest.raises(
        DataError,
        match=r"row 0 has no field 'reward_model.truth' \(reward_model "
        r"has fields \['ground_truth'\]\)",
    ):
        field(row, "reward_model.truth", "f: row 0")
    with pytest.raises(DataError, match=r"has no field 'prompt.3.content' \(prompt has a list"):
        field(row, "prompt.3.content", "f: row 0")


# ---------------------------------------------------------------------------- hf: sources


def _save_to_hf_cache(cache, name: str, rows) -> None:
    """What `datasets.load_dataset(name)` leaves in HF_DATASETS_CACHE after a download."""
    import glob
    import os

    import datasets
    from datasets.packaged_modules.parquet.parquet import Parquet

    datasets.Dataset.from_list(rows).to_parquet(str(cache / "source.parquet"))
    namespace, short = name.split("/")
    builder = Parquet(
        cache_dir=str(cache),
        data_files={"train": str(cache / "source.parquet")},
        dataset_name=f"{namespace}___{short}",
        config_name="default",
        config_id="default",
        hash="0123abcd",
    )
    builder.download_and_prepare()
    for f in glob.glob(str(cache / f"{namespace}___{short}" / "*" / "*" / "*" / "*.arrow")):
        os.rename(f, f.replace(f"{namespace}___{short}-", f"{short}-"))


def test_hf_source_reads_the_local_cache_offline(tmp_path, monkeypatch):
    import datasets

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _save_to_hf_cache(cache, "someone/tiny_math", ROWS)
    assert read_rows("hf:someone/tiny_math") == ROWS
    assert read_rows("hf:someone/tiny_math::train") == ROWS
    with pytest.raises(
        DataError,
        match=rf"hf:someone/absent: dataset 'someone/absent' is not in "
        rf"the local Hugging Face cache \({cache}\)",
    ):
        read_rows("hf:someone/absent")


def test_hf_source_reads_a_save_to_disk_directory(tmp_path):
    import datasets

    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])}
    ).save_to_disk(str(tmp_path / "saved"))
    source = f"hf:{tmp_path / 'saved'}"
    assert read_rows(source) == ROWS
    assert read_rows(source, default_split="test") == ROWS[:1]
    with pytest.raises(DataError, match=r"no split 'dev' in .*saved \(splits: \['test', 'train'\]"):
        read_rows(source + "::dev")
    with pytest.raises(DataError, match=r"expected hf:<name>\[:<config>\]\[:<split>\]"):
        read_rows("hf:a:b:c:d")


def test_a_math_task_trains_from_an_hf_source(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    problems = get_task("math").problems(_data(train_path=f"hf:{tmp_path / 'saved'}"), "train")
    assert [(p.prompt, p.reference) for p in problems] == [("1+1", "2"), ("2+2", "4")]


# ---------------------------------------------------------------------------- prompts


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (42, r"f: row 3: the prompt must be a string or a list of chat messages .* got int 42"),
        ({"text": "hi"}, r"got dict"),
        ([{"role": "user"}], r"got list"),
        ([], r"got list"),
        ("  ", r"f: row 3: the prompt is empty"),
    ],
)
def test_a_prompt_that_is_neither_text_nor_messages_is_refused(value, match):
    with pytest.raises(DataError, match=match):
        build_prompt(value, {}, _data(), "f: row 3", {})


def test_templates_fill_fields_keep_latex_and_rewrite_the_last_user_message():
    row = {"q": "x", "meta": {"level": 3}}
    data = _data(prompt_template="[{meta.level}] {prompt} in \\boxed{} {{literal}}")
    assert build_prompt("Solve", row, data, "w", {}) == "[3] Solve in \\boxed{} {literal}"
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1", "extra": "dropped"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
    ]
    assert build_prompt(messages, row, data, "w", {}) == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "[3] Q2 in \\boxed{} {literal}"},
    ]
    with pytest.raises(
        DataError,
        match=r"w: data.prompt_template names \{level\}, which is "
        r"neither \{prompt\} nor a field of the row",
    ):
        build_prompt("Solve", row, _data(prompt_template="{level}: {prompt}"), "w", {})


def test_a_system_prompt_makes_messages_unless_there_is_one():
    data = _data(system_prompt="Think first.")
    assert build_prompt("Q", {}, data, "w", {}) == [
        {"role": "system", "content": "Think first."},
        {"role": "user", "content": "Q"},
    ]
    own = [{"role": "system", "content": "Mine."}, {"role": "user", "content": "Q"}]
    assert build_prompt(own, {}, data, "w", {}) == own


# ---------------------------------------------------------------------------- bad rows


def _math_file(tmp_path, n_bad: int):
    rows = [{"prompt": f"{i}+1", "answer": str(i + 1)} for i in range(6)]
    for i in range(n_bad):
        rows[2 * i + 1]["answer"] = None if i % 2 else ""
    rows[4]["prompt"] = 7 if n_bad > 2 else rows[4]["prompt"]
    path = tmp_path / "math.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_bad_rows_are_counted_and_refused_by_default(tmp_path):
    path = _math_file(tmp_path, 3)
    with pytest.raises(DataError) as e:
        get_task("math").problems(_data(train_path=path), "train")
    message = str(e.value)
    assert message.startswith(f"{path}: 4 of 6 rows refused (row 1: reference: expected the answer")
    assert "; row 3: reference: expected the answer as a non-empty string, got None; " in message
    assert "; and 1 more). Fix those rows, or set data.on_bad_row=skip" in message


def test_skip_drops_bad_rows_with_a_warning_and_an_all_bad_file_still_fails(tmp_path, caplog):
    path = _math_file(tmp_path, 2)
    with caplog.at_level(logging.WARNING, logger="flowrl_jax"):
        problems = get_task("math").problems(_data(train_path=path, on_bad_row="skip"), "train")
    assert [p.reference for p in problems] == ["1", "3", "5", "6"]
    assert "2 of 6 rows refused (row 1: reference" in caplog.text
    assert "data.on_bad_row=skip dropped them" in caplog.text
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "answer": ""}) + "\n")
    with pytest.raises(DataError, match="1 of 1 rows refused"):
        get_task("math").problems(_data(train_path=str(bad), on_bad_row="skip"), "train")


def test_on_bad_row_is_validated():
    from flowrl_jax.train.config import validate

    config = base_config()
    config.data.on_bad_row = "ignore"
    with pytest.raises(ValueError, match=r"config.data.on_bad_row='ignore' is not valid; choose"):
        validate(config)
