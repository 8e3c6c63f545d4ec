"""JSON-schema validity rate: the share of replies that hold a JSON value valid against a schema."""

import json

import datasets
import evaluate
import jsonschema

_DESCRIPTION = ("1 when the reply (or the outermost {...} / [...] in it) parses as JSON and validates "
                "against `schema` (a JSON string or dict; no schema: any JSON counts).")


def _extract(reply):
    text = str(reply).strip()
    try:
        return True, json.loads(text)
    except ValueError:
        pass
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if start != -1 and end > start:
            try:
                return True, json.loads(text[start:end + 1])
            except ValueError:
                continue
    return False, None


def _valid(reply, validator):
    ok, value = _extract(reply)
    if not ok:
        return 0.0
    if validator is None:
        return 1.0
    return 1.0 if validator.is_valid(value) else 0.0


class JsonValidity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="",
            inputs_description="predictions: raw replies; references: unused",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, schema=None, return_per_example=False):
        if isinstance(schema, str):
            schema = json.loads(schema)
        validator = None
        if schema:
            cls = jsonschema.validators.validator_for(schema)
            validator = cls(schema)
        scores = [_valid(p, validator) for p in predictions]
        result = {"json_validity": sum(scores) / len(scores) if scores else 0.0}
        if return_per_example:
            result["per_example"] = scores
        return result
