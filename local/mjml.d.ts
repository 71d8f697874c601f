/**
 * The part of mjml 5's API that local/email-build.ts uses (the package ships no types).
 * mjml2html is async from v5 on; options as in mjml-core's mjml2html.
 */
declare module 'mjml' {
  interface MjmlOptions {
    /** `strict` throws a ValidationError listing every problem. */
    validationLevel?: 'strict' | 'soft' | 'skip';
    /** The file being compiled: mj-include paths are relative to its folder. */
    filePath?: string;
    /** mjml 5 ignores mj-include unless this is false. */
    ignoreIncludes?: boolean;
    /** Folders (besides the file's own) that mj-include may read from. */
    includePath?: string | string[];
    /** Web fonts to link when used: `{}` links none. */
    fonts?: Record<string, string>;
    keepComments?: boolean;
    minify?: boolean;
    beautify?: boolean;
  }
  interface MjmlError {
    line: number;
    message: string;
    tagName: string;
    formattedMessage: string;
  }
  interface MjmlResult {
    html: string;
    errors: MjmlError[];
  }
  export default function mjml2html(input: string, options?: MjmlOptions): Promise<MjmlResult>;
}
