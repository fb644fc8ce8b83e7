// @ts-check
/**
 * Choosing a run's tasks by pattern, as an operator types them: task ids or globs (`*` any run of
 * characters, `?` one), separated by commas or spaces; a leading `!` takes out what it matches.
 * Only exclusions: every task but those. A pattern that matches nothing is reported, not ignored,
 * so a typo cannot silently shrink a run.
 */

/**
 * @param {string} text what was typed
 * @param {readonly string[]} ids the catalogue's task ids
 * @returns {{ chosen: string[], unmatched: string[], all: boolean }} `all`: no pattern was given
 */
export function chooseTasks(text, ids) {
  const patterns = text.split(/[\s,]+/).filter(Boolean);
  const includes = patterns.filter((p) => !p.startsWith("!"));
  const excludes = patterns.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  /** @type {string[]} */
  const unmatched = [];
  const matching = (/** @type {string} */ pattern) => {
    const test = globTest(pattern);
    const found = ids.filter(test);
    if (found.length === 0) unmatched.push(pattern);
    return found;
  };
  const chosen = new Set(includes.length ? includes.flatMap(matching) : ids);
  for (const id of excludes.flatMap(matching)) chosen.delete(id);
  return { chosen: [...chosen].sort(), unmatched, all: patterns.length === 0 };
}

/** A glob as a test of the whole id; every other character stands for itself. @param {string} glob */
function globTest(glob) {
  const source = glob
    .split("")
    .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\/-]/g, "\\$&")))
    .join("");
  const pattern = new RegExp(`^${source}$`);
  return (/** @type {string} */ id) => pattern.test(id);
}
