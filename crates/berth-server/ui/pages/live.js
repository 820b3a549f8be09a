// Live pages: run a refresh now and then every `ms` until the page is left (its signal aborts);
// a failed refresh is shown once and retried, not thrown away silently.
import { announce } from "../dom.js";

export async function every(ms, signal, refresh) {
  await refresh();
  (async () => {
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, ms));
      if (signal.aborted || document.hidden) continue;
      try {
        await refresh();
      } catch (e) {
        if (!signal.aborted) announce(`Could not refresh: ${e.message}`);
      }
    }
  })();
}
