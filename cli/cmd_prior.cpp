// `smacs prior ...`: build and inspect the persistent prior bank.
#include <iostream>
#include <memory>

#include "bank/bank_store.h"
#include "cli/commands.h"
#include "data/load.h"

namespace smacs::cli {

Runner add_prior_commands(CLI::App& app) {
  auto* prior = app.add_subcommand("prior", "Build and inspect the prior bank");
  prior->require_subcommand(1);
  struct Flags {
    std::vector<std::string> data;
    std::string out, bank;
  };
  auto f = std::make_shared<Flags>();
  auto* import = prior->add_subcommand("import", "Import recorded results into a SQLite prior bank");
  import->add_option("--data", f->data, "Files with recorded results (.json, .csv, .jsonl)")->required();
  import->add_option("--out", f->out, "The bank file to write (replaced atomically)")->required();
  auto* info = prior->add_subcommand("info", "Summarise a prior bank");
  info->add_option("bank", f->bank, "The bank file")->required();
  return [f, import, info]() -> int {
    if (*import) {
      const Dataset data = load_files(f->data);
      save_bank(data, f->out);
      std::cout << "wrote " << f->out << ": " << data.records.size() << " questions, "
                << data.models.size() << " models\n";
      return 0;
    }
    (void)info;
    const PriorBank bank = open_bank(f->bank);
    std::cout << f->bank << ": " << bank.size() << " questions, " << bank.data.models.size() << " models\n";
    for (size_t t = 0; t < bank.tasks.size(); ++t) {
      size_t n = 0;
      for (uint32_t x : bank.task_of) n += x == t;
      std::cout << "  task " << bank.tasks[t] << ": " << n << " questions\n";
    }
    for (size_t m = 0; m < bank.data.models.size(); ++m)
      std::cout << "  model " << bank.data.models[m] << ": mean score "
                << (is_missing(bank.global_mean[m]) ? 0.0 : bank.global_mean[m]) << '\n';
    return 0;
  };
}

}  // namespace smacs::cli
