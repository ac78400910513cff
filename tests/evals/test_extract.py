"""Answer extraction on realistic model outputs, adversarial ones included."""

import pytest
from evals.extract import extract_answer

MC = {
    "A": "Aspirin",
    "B": "Vitamin B12 deficiency",
    "C": "Cholesterol embolization",
    "D": "Polyarteritis nodosa",
}
YN = {"A": "yes", "B": "no", "C": "maybe"}

CASES = [
    # plain letters and formats
    ("C", MC, "C"),
    ("(C)", MC, "C"),
    ("C.", MC, "C"),
    ("C. Cholesterol embolization", MC, "C"),
    ("C) Cholesterol embolization", MC, "C"),
    ("C: Cholesterol embolization is the cause.", MC, "C"),
    ("**C**", MC, "C"),
    (" B\n", MC, "B"),
    ("[D]", MC, "D"),
    # explicit conclusions
    ("The answer is C.", MC, "C"),
    ("the answer is (b)", MC, "B"),
    ("Answer: c", MC, "C"),
    ("Answer: D. Polyarteritis nodosa", MC, "D"),
    ("The correct answer is option B.", MC, "B"),
    ("The correct option is (A).", MC, "A"),
    ("I believe the answer would be D because of the eosinophils.", MC, "D"),
    ("Final answer: **B**", MC, "B"),
    ("So the answer is probably C", MC, "C"),
    ("Correct choice: A", MC, "A"),
    ("answer=D", MC, "D"),
    # answer in the middle of reasoning, chains of thought
    (
        "Renal biopsy shows spindle-shaped vacuoles, so the answer is C. "
        "This is typical after catheterisation.",
        MC,
        "C",
    ),
    (
        "Let's think step by step. Eosinophilia and livedo after a catheter suggest emboli. "
        "Therefore, the answer is C.",
        MC,
        "C",
    ),
    ("At first the answer is A seems tempting, but reconsidering, the answer is D.", MC, "D"),
    ("Step 1: rule out A. Step 2: B is unrelated. So the answer is (C).", MC, "C"),
    # option text without a letter
    ("Cholesterol embolization", MC, "C"),
    ("This is most consistent with cholesterol embolization after the procedure.", MC, "C"),
    ("Polyarteritis nodosa.", MC, "D"),
    ("vitamin b12 deficiency", MC, "B"),
    # yes / no / maybe
    ("yes", YN, "A"),
    ("No.", YN, "B"),
    ("Maybe", YN, "C"),
    ("Yes, mitochondria play a role in remodelling.", YN, "A"),
    ("The answer is B", YN, "B"),
    ("Answer: no", YN, "B"),
    # adversarial: negation, hedging, several letters, refusals
    ("Not A but C", MC, "C"),
    ("It is not B; the answer is D.", MC, "D"),
    ("A or B?", MC, None),
    ("A, B or C?", MC, None),
    ("A, B, C", MC, None),
    ("I cannot answer this question.", MC, None),
    ("I'm not sure.", MC, None),
    ("", MC, None),
    ("   ", MC, None),
    ("The answer is E.", MC, None),
    ("yes or no, it depends", YN, None),
    ("Aspirin or vitamin B12 deficiency could both explain it", MC, None),
    # lowercase article traps
    ("a rash would be expected here", MC, None),
    ("The answer is a rare complication of catheterisation: cholesterol embolization.", MC, "C"),
    ("a", MC, "A"),
    ("d) polyarteritis nodosa", MC, "D"),
]


def test_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
def test_extract(text, options, expected):
    assert extract_answer(text, options) == expected
