/**
 * The KEYS and ARGV of a batch script, defined once: a few fixed slots, then the same slots once per
 * item (per notification). The TypeScript side fills the arrays by slot name (ScriptCall), and the
 * Lua side reads them through locals the loader emits from the same layout (layoutLocals), so a stride
 * or an offset is never written twice.
 */

export interface ScriptLayout<Key extends string, ItemKey extends string, Arg extends string, ItemArg extends string> {
  readonly keys: readonly Key[];
  readonly itemKeys: readonly ItemKey[];
  readonly args: readonly Arg[];
  readonly itemArgs: readonly ItemArg[];
  /**
   * Numbers fixed in the code (a TTL, a bound), written into the script as locals (minuteTtl →
   * MINUTE_TTL) rather than sent with every call: ioredis encodes each argument of a call on its
   * own, which for a handful of constants cost more than a small batch's own arguments.
   */
  readonly constants?: Readonly<Record<string, number>>;
}

/** Any layout, whatever its slot names. */
export type AnyScriptLayout = ScriptLayout<string, string, string, string>;

/** Declares a layout; slot names are camelCase and become Lua names such as ITEM_KEY_RECORD. */
export function scriptLayout<const Key extends string, const ItemKey extends string, const Arg extends string, const ItemArg extends string>(
  layout: ScriptLayout<Key, ItemKey, Arg, ItemArg>,
): ScriptLayout<Key, ItemKey, Arg, ItemArg> {
  for (const name of [...layout.keys, ...layout.itemKeys, ...layout.args, ...layout.itemArgs, ...Object.keys(layout.constants ?? {})]) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(name)) throw new Error(`script slot name ${JSON.stringify(name)} is not camelCase`);
  }
  // A script of one deployment-wide step may take no items at all.
  if (layout.itemKeys.length === 0 && layout.itemArgs.length > 0)
    throw new Error('a script layout with per-item arguments needs at least one key per item (the item count is read from KEYS)');
  return layout;
}

/** The KEYS and ARGV of one call of a script, filled in its layout's order. */
export class ScriptCall<Key extends string, ItemKey extends string, Arg extends string, ItemArg extends string> {
  readonly keys: string[] = [];
  readonly args: (string | number)[] = [];

  constructor(
    private readonly layout: ScriptLayout<Key, ItemKey, Arg, ItemArg>,
    keys: Readonly<Record<Key, string>>,
    args: Readonly<Record<Arg, string | number>>,
  ) {
    for (const name of layout.keys) this.keys.push(keys[name]);
    for (const name of layout.args) this.args.push(args[name]);
  }

  /** Appends one item's keys and arguments. */
  item(keys: Readonly<Record<ItemKey, string>>, args: Readonly<Record<ItemArg, string | number>>): void {
    for (const name of this.layout.itemKeys) this.keys.push(keys[name]);
    for (const name of this.layout.itemArgs) this.args.push(args[name]);
  }
}

/** A Lua local the loader defines before a script: its name and the expression it holds. */
export type LuaLocal = readonly [name: string, expression: string];

/**
 * The layout as Lua locals: the strides (KEYS_FIXED, KEYS_PER_ITEM, ARGV_FIXED, ARGV_PER_ITEM),
 * ITEMS (the number of items in this call), the fixed slots' indexes (KEY_STATS_MINUTE = 1, ARG_NOW
 * = 1, …) and the item slots' offsets within an item (ITEM_KEY_RECORD = 1, …), so that item n's
 * record is KEYS[KEYS_FIXED + n * KEYS_PER_ITEM + ITEM_KEY_RECORD]. Locals, not a table: reading
 * them costs what the literal numbers did. Then the layout's constants (MINUTE_TTL = 3900, …).
 */
export function layoutLocals(layout: AnyScriptLayout): LuaLocal[] {
  const slots = (prefix: string, names: readonly string[]) => names.map((name, i): LuaLocal => [`${prefix}${upperSnake(name)}`, String(i + 1)]);
  return [
    ['KEYS_FIXED', String(layout.keys.length)],
    ['KEYS_PER_ITEM', String(layout.itemKeys.length)],
    ['ARGV_FIXED', String(layout.args.length)],
    ['ARGV_PER_ITEM', String(layout.itemArgs.length)],
    ['ITEMS', layout.itemKeys.length === 0 ? '0' : '(#KEYS - KEYS_FIXED) / KEYS_PER_ITEM'],
    ...slots('KEY_', layout.keys),
    ...slots('ITEM_KEY_', layout.itemKeys),
    ...slots('ARG_', layout.args),
    ...slots('ITEM_ARG_', layout.itemArgs),
    ...Object.entries(layout.constants ?? {}).map(([name, value]): LuaLocal => [upperSnake(name), String(value)]),
  ];
}

/** statsMinute → STATS_MINUTE */
export function upperSnake(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase();
}
