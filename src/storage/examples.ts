/** Task examples as stored in R2 (`examples/<task>/<split>.jsonl`): one JSON object per line. */

export interface Example {
  readonly prompt: string;
  readonly completion: string;
}

/** One `{"prompt", "completion"}` object per line; throws naming the first bad line. */
export function parseExamples(jsonl: string): Example[] {
  const examples: Example[] = [];
  jsonl.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new SyntaxError(`line ${i + 1}: not valid JSON`);
    }
    const e = value as Partial<Example>;
    if (typeof e !== "object" || e === null || typeof e.prompt !== "string" || typeof e.completion !== "string") {
      throw new SyntaxError(`line ${i + 1}: expected {"prompt": string, "completion": string}`);
    }
    examples.push({ prompt: e.prompt, completion: e.completion });
  });
  return examples;
}
