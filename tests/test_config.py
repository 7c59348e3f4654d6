from dataclasses import dataclass

import pytest

from replicate.config import Chapter, UsageError, parse_overrides, resolve


@dataclass(frozen=True)
class P:
    epochs: int = 2
    lr: float = 0.1
    name: str = "a"
    flag: bool = False
    wds: tuple[float, ...] = (0.0, 1e-4)
    data_dir: str | None = None


CH = Chapter(name="toy", title="Toy", notebooks=("01",), params=P,
             profiles={"smoke": P(), "paper": P(epochs=100)}, choices={"name": ("a", "b")})


def test_strings_from_the_command_line_become_typed_values():
    p = CH.resolve("smoke", parse_overrides(["epochs=5", "lr=1e-3", "flag=true", "wds=0,0.001", "data_dir=/x"]))
    assert (p.epochs, p.lr, p.flag, p.wds, p.data_dir) == (5, 1e-3, True, (0.0, 0.001), "/x")
    assert CH.resolve("smoke", {"data_dir": "none"}).data_dir is None
    assert CH.resolve("paper", {}).epochs == 100


@pytest.mark.parametrize("overrides, words", [
    ({"epochs": "three"}, ["epochs", "int"]),
    ({"lr": "fast"}, ["lr", "float"]),
    ({"flag": "maybe"}, ["flag", "bool"]),
    ({"nope": 1}, ["unknown parameter", "epochs, lr, name"]),
    ({"name": "c"}, ["valid choices: a, b"]),
])
def test_bad_values_name_the_valid_choices(overrides, words):
    with pytest.raises(UsageError) as e:
        CH.resolve("smoke", overrides)
    for w in words:
        assert w in str(e.value)


def test_unknown_profile_lists_profiles():
    with pytest.raises(UsageError, match="valid profiles: smoke, paper"):
        CH.resolve("gpu")


def test_override_syntax():
    with pytest.raises(UsageError, match="key=value"):
        parse_overrides(["epochs"])


def test_resolve_keeps_the_base_unchanged():
    base = P()
    out = resolve(base, {"epochs": 9})
    assert base.epochs == 2 and out.epochs == 9
