// @ts-check
/**
 * A profile's match rules in words, as an operator checks them: every rule given must hold for a
 * device, and a rule's listed values are alternatives, compared without case (src/delivery/profiles.ts).
 */

/**
 * @param {{ minRamMb?: number, maxRamMb?: number, socs?: string[], models?: string[], os?: string[] }} match
 * @returns {string[]} one phrase per rule; none: the profile matches every device
 */
export function matchRules(match) {
  const either = (/** @type {string[]} */ values) => values.join(" or ");
  return [
    match.minRamMb !== undefined && `RAM at least ${match.minRamMb} MB`,
    match.maxRamMb !== undefined && `RAM at most ${match.maxRamMb} MB`,
    match.socs && `SoC ${either(match.socs)}`,
    match.models && `model ${either(match.models)}`,
    match.os && `OS ${either(match.os)}`,
  ].filter((rule) => typeof rule === "string");
}
