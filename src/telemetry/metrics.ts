/**
 * A small metrics registry rendering the Prometheus text format (STYLE.md
 * habit 10: telemetry is injected; services expose it on /metrics).
 */
export interface Metrics {
  inc(name: string, labels?: Record<string, string>, by?: number): void;
  set(name: string, value: number, labels?: Record<string, string>): void;
  /** Adds an observation to a summary (count and sum). */
  observe(name: string, value: number, labels?: Record<string, string>): void;
}

type Kind = 'counter' | 'gauge' | 'summary';

/** In-process registry; `render()` gives the Prometheus exposition text. */
export class MetricsRegistry implements Metrics {
  private readonly series = new Map<string, { kind: Kind; help: string; values: Map<string, number> }>();

  constructor(private readonly help: Record<string, string> = {}) {}

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const values = this.family(name, 'counter');
    const key = labelKey(labels);
    values.set(key, (values.get(key) ?? 0) + by);
  }

  set(name: string, value: number, labels: Record<string, string> = {}): void {
    this.family(name, 'gauge').set(labelKey(labels), value);
  }

  observe(name: string, value: number, labels: Record<string, string> = {}): void {
    const values = this.family(name, 'summary');
    const key = labelKey(labels);
    values.set(`count${key}`, (values.get(`count${key}`) ?? 0) + 1);
    values.set(`sum${key}`, (values.get(`sum${key}`) ?? 0) + value);
  }

  /** The current value of a counter or gauge series (0 when absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.series.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  /** A summary series' sum and count (0 when absent). */
  summary(name: string, labels: Record<string, string> = {}): { sum: number; count: number } {
    const values = this.series.get(name)?.values;
    const key = labelKey(labels);
    return { sum: values?.get(`sum${key}`) ?? 0, count: values?.get(`count${key}`) ?? 0 };
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, { kind, help, values }] of this.series) {
      if (help) lines.push(`# HELP ${name} ${help}`);
      lines.push(`# TYPE ${name} ${kind}`);
      for (const [key, value] of values) {
        if (kind === 'summary') {
          const part = key.startsWith('count') ? 'count' : 'sum';
          lines.push(`${name}_${part}${key.slice(part.length)} ${value}`);
        } else {
          lines.push(`${name}${key} ${value}`);
        }
      }
    }
    return `${lines.join('\n')}\n`;
  }

  private family(name: string, kind: Kind): Map<string, number> {
    let f = this.series.get(name);
    if (!f) {
      f = { kind, help: this.help[name] ?? '', values: new Map() };
      this.series.set(name, f);
    }
    return f.values;
  }
}

function labelKey(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

/** A Metrics that drops everything. */
export const NO_METRICS: Metrics = { inc() {}, set() {}, observe() {} };
