/* fuzz_dataset.c - dataset rows through st_dataset_load with the small
 * llama2.c tokenizer of tests/unit/test_dataset_tok.h. The first input byte
 * picks the format and options, the rest is the file:
 *   b % 7: 0 TSV and 1 CSV classification, 2 JSONL documents or
 *   prompt/completion, 3 JSONL classification, 4 chat (a small C
 *   template, human/gpt renamed to user/assistant), 5 alpaca, 6 text with a
 *   separator; (b / 7) % 3: header auto/no/yes; b & 0x80: T = 8, else 32.
 * The token cache is off (no_cache). */
#include "fuzz_common.h"
#include "dataset.h"
#include "error.h"
#include "../unit/test_dataset_tok.h"

static const st_tokenizer *tok(void) {
  static st_tokenizer *tk;
  if (!tk) {
    const char *p = fz_path("tok_fuzz.bin");
    tk_write(p);
    if (st_tokenizer_load(&tk, p) != ST_OK) {
      fprintf(stderr, "fuzz_dataset: %s\n", st_errmsg());
      abort();
    }
  }
  return tk;
}

/* a ChatML-like template: roles system/user/assistant, loss on the
 * assistant's content and end marker */
static int render(void *ctx, const st_chat_msg *msgs, int n, st_segments *out) {
  (void)ctx;
  for (int i = 0; i < n; i++) {
    const char *r = msgs[i].role;
    int asst = !strcmp(r, "assistant");
    if (!asst && strcmp(r, "user") && strcmp(r, "system"))
      return st_err("role '%s' is not supported", r);
    char head[64];
    snprintf(head, sizeof head, "<|%s|>\n", r);
    if (st_segments_add(out, head, strlen(head), 0) != ST_OK ||
        st_segments_add(out, msgs[i].content, strlen(msgs[i].content), asst) != ST_OK ||
        st_segments_add(out, "<|end|>\n", 8, asst) != ST_OK)
      return ST_ERR;
  }
  return ST_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const st_tokenizer *tk = tok();
  unsigned b = data[0];
  static const char *labels[] = {"0", "1", "neg"};
  static const char *verbs[] = {" bad", " good", " neutral"};
  static const char *from[] = {"human", "gpt"}, *to[] = {"user", "assistant"};
  st_data_opts o = st_data_opts_default();
  o.no_cache = 1;
  o.seq_len = b & 0x80 ? 8 : 32;
  o.header = (int)((b & 0x7f) / 7 % 3) - 1;
  const char *name = "data.jsonl";
  switch ((b & 0x7f) % 7) {
  case 0:
  case 1:
    o.format = (b & 0x7f) % 7 ? ST_DS_CSV : ST_DS_TSV;
    name = (b & 0x7f) % 7 ? "data.csv" : "data.tsv";
    o.templ = o.header == 1 ? "Review: {sentence}\n{{x}} {1}:" : "Review: {1}\nSentiment:";
    o.label_col = o.header == 1 ? "label" : "0";
    o.n_classes = 3;
    o.labels = labels;
    o.verbalizers = verbs;
    break;
  case 2:
    o.format = ST_DS_JSONL;
    break;
  case 3:
    o.format = ST_DS_JSONL;
    o.templ = "Q: {question} {text}\nA:";
    o.n_classes = 2;
    o.labels = labels;
    o.verbalizers = verbs;
    break;
  case 4:
    o.format = ST_DS_CHAT;
    o.n_roles = 2;
    o.role_from = from;
    o.role_to = to;
    break;
  case 5:
    o.format = ST_DS_ALPACA;
    break;
  default:
    o.format = ST_DS_TEXT;
    o.separator = "\n\n";
    name = "data.txt";
    break;
  }
  o.render = render;
  o.path = fz_put(name, data + 1, size - 1);
  st_dataset ds;
  memset(&ds, 0, sizeof ds);
  if (st_dataset_load(&ds, tk, &o) == ST_OK) st_dataset_free(&ds);
  return 0;
}
