"""A SQuAD v2.0-layout file from a v1.1 file: answerable questions as they are, plus unanswerable ones made
by asking a question of a paragraph from another article (is_impossible, no answers).

For testing v2.0 code paths where no v2.0 data is available (real v2.0 negatives are adversarial and
harder: these are easy to reject, but the null score, null odds and threshold search work the same way).

    python -m bert_jax.data.squad_unanswerable dev-v1.1.json dev-v2-synthetic.json --articles=16:24

``--fraction`` 0.5 adds one unanswerable question per two answerable ones (a third of all questions
unanswerable, as in SQuAD v2.0 dev). Deterministic for ``--seed``.
"""

from __future__ import annotations

import argparse
import copy
import json

import numpy as np

from bert_jax.data.readers import parse_articles
from bert_jax.io_utils import write_json


def make_unanswerable(document: dict, fraction: float = 0.5, seed: int = 0) -> dict:
    """A v2.0 copy of a v1.1 document (at least two articles). Each added question is a copy of a
    random question with id '<id>_neg', asked of a random paragraph of a different article."""
    articles = copy.deepcopy(document["data"])
    if len(articles) < 2:
        raise ValueError(f"make_unanswerable needs at least 2 articles (questions move to another article); "
                         f"got {len(articles)}")
    questions = [(a, qa) for a, article in enumerate(articles) for paragraph in article["paragraphs"]
                 for qa in paragraph["qas"]]
    for _, qa in questions:
        qa["is_impossible"] = False
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(questions), int(round(fraction * len(questions))), replace=False)
    for index in sorted(chosen):
        source, qa = questions[index]
        target = int(rng.choice([a for a in range(len(articles)) if a != source]))
        paragraphs = articles[target]["paragraphs"]
        paragraph = paragraphs[int(rng.integers(len(paragraphs)))]
        paragraph["qas"].append({"id": f"{qa['id']}_neg", "question": qa["question"], "answers": [],
                                 "plausible_answers": [], "is_impossible": True})
    return {"version": "v2.0", "data": articles}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="a SQuAD v1.1 JSON file")
    parser.add_argument("output", help="the v2.0-layout file to write")
    parser.add_argument("--articles", default="", help="'start:stop': only these articles of the input")
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with open(args.input, encoding="utf-8") as f:
        document = json.load(f)
    if args.articles:
        document = {**document, "data": document["data"][parse_articles(args.articles, "articles")]}
    write_json(args.output, make_unanswerable(document, args.fraction, args.seed))


if __name__ == "__main__":
    main()
