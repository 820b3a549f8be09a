// A job's live output: stdout and stderr told apart, appended once per animation frame (a
// burst of 100k lines is a few DOM writes, not 100k), following the end until the reader
// scrolls up and again once they are back at the bottom.
import { h } from "./dom.js";

export class LogView {
  constructor() {
    this.pre = h("pre", { class: "log", role: "log", "aria-live": "off", "aria-label": "Output", tabindex: "0" });
    this.jump = h("button", { type: "button", class: "jump", hidden: true, onclick: () => this.toBottom() }, "Follow the end ↓");
    this.el = h("div", { class: "logbox" }, this.pre, this.jump);
    this.pending = [];
    this.lines = 0;
    this.following = true;
    this.pre.addEventListener("scroll", () => {
      this.following = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
      this.jump.hidden = this.following;
    });
  }

  add(stream, text) {
    this.pending.push([stream, text]);
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  note(text) {
    this.add("berth", text.endsWith("\n") ? text : `${text}\n`);
  }

  flush() {
    this.frame = null;
    const batch = this.pending.splice(0);
    let last = this.pre.lastElementChild;
    for (const [stream, text] of batch) {
      // Consecutive output of one stream shares an element, up to a size.
      if (last && last.dataset.stream === stream && last.textContent.length < 64_000) {
        last.append(text);
      } else {
        last = h("span", { class: `out-${stream}`, "data-stream": stream }, text);
        this.pre.append(last);
      }
      this.lines += (text.match(/\n/g) ?? []).length;
    }
    if (this.following) this.pre.scrollTop = this.pre.scrollHeight;
  }

  toBottom() {
    this.following = true;
    this.jump.hidden = true;
    this.pre.scrollTop = this.pre.scrollHeight;
  }
}
