"""The context panel: which files the model will see, how big the prompt is, which model answers, the theme."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BAR_WIDTH = 20


def short_count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"


def usage_bar(used: int, size: int, width: int = BAR_WIDTH) -> Text:
    """A bar of ``width`` cells: green under 60 % of the context, yellow under 90 %, red above."""
    share = min(used / size, 1.0) if size else 0.0
    filled = round(share * width)
    style = "green" if share < 0.6 else "yellow" if share < 0.9 else "red"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "grey37"))


class ContextPanel(Widget):
    """A side panel; every field is reactive, so setting one redraws it."""

    DEFAULT_CSS = """
    ContextPanel {
        width: 28;
        height: 1fr;
        padding: 0 1;
        border-left: solid $panel-lighten-2;
    }
    """

    files: reactive[tuple[str, ...]] = reactive(())
    """Files and line ranges in the context (repo-relative labels)."""
    attachments: reactive[tuple[str, ...]] = reactive(())
    """Other text that goes with the next message (/run output)."""
    prompt_tokens: reactive[int] = reactive(0)
    """Size of the prompt the next message will send: the rendered chat, as the engine prefills it."""
    exact: reactive[bool] = reactive(False)
    """True when prompt_tokens was counted by the model's tokenizer; False for an estimate."""
    context_size: reactive[int | None] = reactive(None)
    """Positions the engine's context holds (prompt + answer); None until known."""
    answer_budget: reactive[int] = reactive(0)
    """Tokens reserved for the answer."""
    model: reactive[str] = reactive("no model")
    """The model file's name."""
    backend: reactive[str] = reactive("")
    """Architecture and where it runs, once the model has loaded."""
    repo: reactive[str] = reactive("")
    """The repository's folder name."""
    theme: reactive[str] = reactive("")
    """The colour theme ("dark", "light", or another Textual theme's name)."""

    @property
    def prompt_limit(self) -> int | None:
        """The most prompt tokens the context holds beside the answer's reserve; None until the size is known."""
        return max(self.context_size - self.answer_budget, 0) if self.context_size else None

    def render(self) -> Text:
        text = Text()
        text.append("Context", "bold")
        if self.repo:
            text.append(f"  {self.repo}", "dim")
        text.append("\n")
        if self.files:
            for label in self.files:
                text.append(" • ", "dim")
                text.append(label + "\n")
        else:
            text.append(" no files; /add PATH\n", "dim italic")
        for label in self.attachments:
            text.append(" + ", "dim")
            text.append(label + "\n", "italic")
        text.append("\nPrompt\n", "bold")
        used = self.prompt_tokens + self.answer_budget
        count = ("" if self.exact else "≈") + short_count(self.prompt_tokens)
        limit = self.prompt_limit
        if limit is not None:
            over = self.prompt_tokens > limit
            text.append(f" {count}/{short_count(limit)} tokens\n", "bold red" if over else "")
            text.append(" ")
            text.append_text(usage_bar(used, self.context_size))
            text.append(f"\n +{short_count(self.answer_budget)} answer, {short_count(self.context_size)} ctx\n",
                        "dim")
        else:
            text.append(f" {count} tokens\n")
        text.append("\nModel\n", "bold")
        text.append(f" {self.model}\n", "cyan")
        if self.backend:
            text.append(f" {self.backend}\n", "dim")
        if self.theme:
            text.append(f"\nTheme {self.theme}", "dim")
            text.append(" · f3", "dim italic")
        return text
