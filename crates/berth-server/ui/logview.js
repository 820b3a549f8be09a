// A job's live output: stdout and stderr told apart, appended once per animation frame in
// blocks laid out on their own (a burst of 100k lines is a few DOM writes a frame and no
// frame lays out what came before), following the end until the reader scrolls up and again
// once they are back at the bottom.
import { h } from "./dom.js";

/** Characters appended per animation frame, and the size of a block of output. */
const BUDGET = 64 * 1024;
const BLOCK = 16 * 1024;

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
    // A frame takes up to BUDGET characters; the rest waits for the next frame.
    let budget = BUDGET;
    let taken = 0;
    while (taken < this.pending.length && budget > 0) budget -= this.pending[taken++][1].length;
    for (const [stream, text] of this.pending.splice(0, taken)) this.put(stream, text);
    if (this.pending.length) this.frame = requestAnimationFrame(() => this.flush());
    if (this.following) this.pre.scrollTop = this.pre.scrollHeight;
  }

  /** Appends to the last block, or starts one (at a line's end, once the block is big):
   * blocks are laid out on their own, so a new frame lays out only what it added. */
  put(stream, text) {
    let block = this.pre.lastElementChild;
    if (!block || (block.size >= BLOCK && block.endsLine)) {
      block = h("span", { class: "block" });
      block.size = 0;
      this.pre.append(block);
    }
    const run = block.lastElementChild;
    if (run?.dataset.stream === stream) run.append(text);
    else block.append(h("span", { class: `out-${stream}`, "data-stream": stream }, text));
    block.size += text.length;
    block.endsLine = text.endsWith("\n");
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.lines++;
  }

  toBottom() {
    this.following = true;
    this.jump.hidden = true;
    this.pre.scrollTop = this.pre.scrollHeight;
  }
}
