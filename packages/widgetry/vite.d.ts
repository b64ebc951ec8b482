// Types of widgetry/vite: the Vite plugin of a Widgetry widget.
import type { Plugin } from "vite";

export interface WidgetryPluginOptions {
  /** The widget's name (its folder under widgets/) [default: the Vite root's folder name]. */
  widget?: string;
  /** The app the host page is on [default: $WIDGETRY_APP_URL, else http://127.0.0.1:8000]. */
  appUrl?: string;
}

/**
 * Build: a relative-path dist/index.html with one script and one stylesheet (what the
 * Widgetry bundler inlines). Dev server: the runtime injected at the top of <head>, listening
 * on 127.0.0.1, and the host page URL that renders this widget from it printed at start.
 */
export default function widgetry(options?: WidgetryPluginOptions): Plugin;

/** The host page URL that renders widget `name` from the dev server at `devUrl`. */
export function hostPageUrl(appUrl: string, name: string, devUrl: string): string;
