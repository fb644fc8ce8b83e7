/** Device needs (issue 14): parsing, the tasks a need covers, and the canonical subset key. */
import { describe, expect, it } from "vitest";
import { parseNeed, subsetKey, tasksFor, type NeedTask } from "../../src/delivery/needs";

const TASKS: NeedTask[] = ["gec", "reply", "sum"].flatMap((application) =>
  ["de", "en", "fr"].map((language) => ({ id: `${application}-${language}`, application, language })),
);

describe("device needs", () => {
  it("covers exactly the tasks of the stated languages and apps; one list alone means every value of the other", () => {
    expect(tasksFor(parseNeed("de,en", "gec,reply")!, TASKS)).toEqual(["gec-de", "gec-en", "reply-de", "reply-en"]);
    expect(tasksFor(parseNeed("fr", undefined)!, TASKS)).toEqual(["gec-fr", "reply-fr", "sum-fr"]);
    expect(tasksFor(parseNeed(undefined, "sum")!, TASKS)).toEqual(["sum-de", "sum-en", "sum-fr"]);
    expect(tasksFor(parseNeed("ja", "gec")!, TASKS)).toEqual([]);
    // A task without the field is never matched by a list that states it.
    expect(tasksFor(parseNeed("de", undefined)!, [{ id: "x" }])).toEqual([]);
    expect(parseNeed(undefined, undefined)).toBeNull();
  });

  it("gives the same key whatever the order, case, spaces or repeats, and another key for other tasks", async () => {
    const a = tasksFor(parseNeed("de,en", "gec,reply")!, TASKS);
    const b = tasksFor(parseNeed(" EN , de,de", "reply,GEC")!, TASKS);
    expect(b).toEqual(a);
    expect(await subsetKey(a)).toBe(await subsetKey([...a].reverse()));
    expect(await subsetKey(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(await subsetKey(a)).not.toBe(await subsetKey(a.slice(1)));
  });

  it("refuses malformed lists, naming the list", () => {
    expect(() => parseNeed("de,<script>", undefined)).toThrow(/locales: "<script>"/);
    expect(() => parseNeed(undefined, ",")).toThrow(/apps: give at least one value/);
    expect(() => parseNeed(Array.from({ length: 17 }, (_, i) => `l${i}`).join(","), undefined)).toThrow(
      /locales: at most 16/,
    );
    expect(() => parseNeed("de", undefined, "keyboard")).toThrow(
      /taskSet: give a task set or locales and apps, not both/,
    );
    expect(() => parseNeed(undefined, undefined, "../x")).toThrow(/taskSet: "..\/x"/);
  });

  it("maps a named task set to the tasks of it the catalogue has, and an unknown name to none", () => {
    const sets = { keyboard: ["reply-fr", "gec-de", "gec-xx"] };
    expect(tasksFor(parseNeed(undefined, undefined, " Keyboard ")!, TASKS, sets)).toEqual(["gec-de", "reply-fr"]);
    expect(tasksFor(parseNeed(undefined, undefined, "camera")!, TASKS, sets)).toEqual([]);
    // An inherited property is not a set.
    expect(tasksFor(parseNeed(undefined, undefined, "constructor")!, TASKS, sets)).toEqual([]);
  });
});
