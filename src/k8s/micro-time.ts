// MicroTime values on the wire, for Leases and Events: client-node types such timestamps as V1MicroTime (a Date) but has no (de)serializer
// for them. Reading, the JSON string comes through untouched; writing, the value goes to
// JSON.stringify, i.e. Date#toJSON → toISOString(). A plain Date gives three fractional digits,
// which the API server refuses (it parses exactly six); client-node's own V1MicroTime pads
// milliseconds with `000`. WireMicroTime carries our own six digits through that path.

import { V1MicroTime } from '@kubernetes/client-node';
import { MICRO_TIME_PATTERN } from '../core/micro-time.js';

/** A V1MicroTime whose JSON form is the exact MicroTime text it was made from. */
class WireMicroTime extends V1MicroTime {
  readonly #text: string;
  constructor(text: string) {
    super(Date.parse(text));
    this.#text = text;
  }
  override toISOString(): string {
    return this.#text;
  }
}

export function wireMicroTime(text: string): V1MicroTime {
  if (!MICRO_TIME_PATTERN.test(text)) throw new RangeError(`not a MicroTime: ${text}`);
  return new WireMicroTime(text);
}
