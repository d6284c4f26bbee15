/**
 * Hostile log text: what the panel, the inline table, the CSV export and the "to notebook"
 * code must show as text and never run. The Galata security test logs the same corpus
 * from a real kernel (ui-tests/tests/security.spec.ts).
 */
export const PAYLOADS: ReadonlyArray<string> = [
  '<script>window.__taskscope_pwned = "script"</script>',
  '<img src=x onerror="window.__taskscope_pwned = \'img\'">',
  '<a href="javascript:window.__taskscope_pwned = \'link\'">click me</a>',
  '<svg onload="window.__taskscope_pwned = \'svg\'"><circle r="5"/></svg>',
  '<!-- a comment --> after the comment',
  '<iframe srcdoc="<script>parent.__taskscope_pwned = 1</script>"></iframe>',
  'text with "quotes", commas, and\nnew lines\r\nand CRLF',
  '=HYPERLINK("http://example.invalid","click")',
  '+1+1',
  '-2+3',
  '@SUM(A1:A2)',
  '\tTAB first',
  'right-to-left \u202eevil.exe\u202c and \u200fmarks\u200e',
  "backslash \\ and quote ' and triple ''' and \"\"\"",
  'NUL \u0000 BEL \u0007 DEL \u007f NEL \u0085 LS \u2028 PS \u2029 BOM \ufeff',
  'emoji 😀 and astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'x'.repeat(20000)
];
